import { connect } from 'node:net';

/** Where the agent is in its life: `serving` only between a complete start and close(). */
export type AgentPhase = 'starting' | 'serving' | 'stopping';

/** What `/healthz` reads; every read is cheap (no TPM, no verifier call). */
export interface HealthSources {
  phase(): AgentPhase;
  agent: string;
  keyId: string;
  /** Whether the agent holds a TPM (false: receipts reach L0 only). */
  tpm: boolean;
  /** Whether a verifier is configured (pushes and quotes go somewhere). */
  verifier: boolean;
  /** The receipt log's size: the seq the next receipt takes. */
  seq(): number;
  /** Receipts committed and not yet pushed. */
  pending(): number;
  /** Throws when the receipt store cannot be read (closed, I/O error). */
  probeStore(): void;
  lastReceiptAt(): number | null;
  lastReceiptFailure(): { at: number; code: string } | null;
  lastPushAt(): number | null;
  lastQuoteAt(): number | null;
  upstream(): Promise<boolean>;
}

/** The `/healthz` answer. */
export interface Health {
  /**
   * `ok`; `degraded` (still issuing receipts, but the upstream does not accept connections);
   * `starting`, `stopping` or `failing` (cannot issue receipts: the store cannot be read, or
   * its last commit failed) answer 503.
   */
  status: 'ok' | 'degraded' | 'starting' | 'stopping' | 'failing';
  agent: string;
  keyId: string;
  tpm: boolean;
  seq: number | null;
  pendingReceipts: number | null;
  /** ISO times, null before the first. */
  lastReceipt: string | null;
  lastPush: string | null;
  lastQuote: string | null;
  upstreamReachable: boolean | null;
  /** Why the status is not `ok` (no secrets, no paths). */
  problem?: string;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The `/healthz` status code and body: 200 while receipts can be issued, else 503. */
export async function health(s: HealthSources): Promise<{ code: number; body: Health }> {
  const phase = s.phase();
  const base = {
    agent: s.agent,
    keyId: s.keyId,
    tpm: s.tpm,
    lastPush: iso(s.lastPushAt()),
    lastQuote: iso(s.lastQuoteAt()),
    lastReceipt: iso(s.lastReceiptAt()),
  };
  if (phase !== 'serving')
    return {
      code: 503,
      body: { status: phase, ...base, seq: null, pendingReceipts: null, upstreamReachable: null },
    };
  let seq: number | null = null;
  let pending: number | null = null;
  let problem: string | undefined;
  try {
    s.probeStore();
    seq = s.seq();
    pending = s.pending();
  } catch (err) {
    problem = `receipt store unreadable: ${(err as { code?: string }).code ?? 'error'}`;
  }
  // A failed commit after the last good one: the next receipt would most likely fail too.
  const failure = s.lastReceiptFailure();
  if (
    problem === undefined &&
    failure?.code === 'AGENT_STORE_FAILED' &&
    failure.at >= (s.lastReceiptAt() ?? 0)
  )
    problem = 'the last receipt commit failed (AGENT_STORE_FAILED)';
  const upstreamReachable = await s.upstream();
  const body: Health = {
    status: problem !== undefined ? 'failing' : upstreamReachable ? 'ok' : 'degraded',
    ...base,
    seq,
    pendingReceipts: pending,
    upstreamReachable,
  };
  if (problem !== undefined) body.problem = problem;
  else if (!upstreamReachable) body.problem = 'the model server does not accept connections';
  return { code: problem === undefined ? 200 : 503, body };
}

/**
 * Whether `url`'s host accepts a TCP connection within `timeoutMs`. Answers are cached for
 * `cacheMs` and concurrent calls share one attempt, so a health checker polling often makes at
 * most one connection per `cacheMs`.
 */
export function upstreamProbe(url: URL, timeoutMs = 1000, cacheMs = 1000): () => Promise<boolean> {
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let last: { at: number; ok: boolean } | undefined;
  let inFlight: Promise<boolean> | undefined;
  const attempt = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect({ host, port });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(timeoutMs, () => done(false));
      socket.once('connect', () => done(true));
      socket.once('error', () => done(false));
    });
  return () => {
    if (last !== undefined && Date.now() - last.at < cacheMs) return Promise.resolve(last.ok);
    inFlight ??= attempt().then((ok) => {
      last = { at: Date.now(), ok };
      inFlight = undefined;
      return ok;
    });
    return inFlight;
  };
}
