import { UPSTREAM_LIMITS, type UpstreamEvidence } from '@tmb/core/host';
import type { Evidence } from '../appraise/evidence.ts';
import type { KernelEvidence } from '../attest/kernel.ts';
import { VerifierError } from '../errors.ts';
import { asObject, bytesField, stringField } from '../http/body.ts';

/**
 * Caps on evidence v2 members, in decoded bytes (docs/evidence.md). The kernel log's first
 * appraisal needs the whole log of the boot (only all of it replays to the quoted PCR 10): a
 * 300,000-entry ima-ng log is about 40 MB, so 64 MiB.
 */
export const EVIDENCE_LIMITS = { kernel: 64 << 20, boot: 1 << 20, app: 8 << 20, toolPath: 4096 } as const;
/** The largest evidence body: every member at its cap, base64url, with room for the rest. */
export const MAX_EVIDENCE_BYTES =
  Math.ceil((EVIDENCE_LIMITS.kernel + EVIDENCE_LIMITS.boot + EVIDENCE_LIMITS.app) / 3) * 4 + (1 << 20);

const b64 = (n: number) => Math.ceil(n / 3) * 4;

/** Evidence v2's kernel, boot, telemetryTool and upstream members. @throws VerifierError BODY_MALFORMED naming the member */
export function kernelMembers(body: Record<string, unknown>): KernelEvidence {
  let kernel: KernelEvidence['kernel'] = null;
  if (body.kernel !== null && body.kernel !== undefined) {
    const k = asObject(body.kernel, '"kernel"');
    const from = k.from;
    if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)
      throw new VerifierError('BODY_MALFORMED', '"kernel.from" must be a non-negative integer');
    kernel = {
      from,
      entries: member('kernel.entries', () => bytesField(k, 'entries', b64(EVIDENCE_LIMITS.kernel))),
    };
  }
  let boot: KernelEvidence['boot'] = null;
  if (body.boot !== null && body.boot !== undefined) {
    const b = asObject(body.boot, '"boot"');
    boot = { log: member('boot.log', () => bytesField(b, 'log', b64(EVIDENCE_LIMITS.boot))) };
  }
  const tool = body.telemetryTool ?? null;
  if (
    tool !== null &&
    (typeof tool !== 'string' || tool.length > EVIDENCE_LIMITS.toolPath || !tool.startsWith('/'))
  )
    throw new VerifierError(
      'BODY_MALFORMED',
      '"telemetryTool" must be null or an absolute path of at most 4096 characters',
    );
  return { kernel, boot, telemetryTool: tool, upstream: upstreamMember(body.upstream) };
}

const UPSTREAM_KINDS: readonly string[] = ['local', 'remote', 'none'];

/**
 * Evidence `upstream` (docs/evidence.md): null when absent; bounded by UPSTREAM_LIMITS.
 * @throws VerifierError BODY_MALFORMED naming the member
 */
export function upstreamMember(v: unknown): UpstreamEvidence | null {
  if (v === null || v === undefined) return null;
  const bad = (what: string, must: string) =>
    new VerifierError('BODY_MALFORMED', `"upstream${what}" must be ${must}`);
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('', 'null or an object');
  const u = v as Record<string, unknown>;
  if (typeof u.kind !== 'string' || !UPSTREAM_KINDS.includes(u.kind))
    throw bad('.kind', '"local", "remote" or "none"');
  const reason = u.reason;
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > UPSTREAM_LIMITS.reason))
    throw bad('.reason', `a string of at most ${UPSTREAM_LIMITS.reason} characters`);
  const ps = u.processes;
  if (!Array.isArray(ps) || ps.length > UPSTREAM_LIMITS.processes)
    throw bad('.processes', `an array of at most ${UPSTREAM_LIMITS.processes} processes`);
  const path = (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= UPSTREAM_LIMITS.path;
  const processes = ps.map((p: unknown, i) => {
    const at = `.processes[${i}]`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw bad(at, 'an object');
    const { pid, exe, files } = p as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid < 0)
      throw bad(`${at}.pid`, 'a non-negative integer');
    if (exe !== null && !path(exe))
      throw bad(`${at}.exe`, `null or a path of at most ${UPSTREAM_LIMITS.path} characters`);
    if (!Array.isArray(files) || files.length > UPSTREAM_LIMITS.files)
      throw bad(`${at}.files`, `an array of at most ${UPSTREAM_LIMITS.files} paths`);
    const ok = files.findIndex((f) => !path(f));
    if (ok >= 0) throw bad(`${at}.files[${ok}]`, `a path of at most ${UPSTREAM_LIMITS.path} characters`);
    return { pid, exe: exe as string | null, files: files as string[] };
  });
  return { kind: u.kind as UpstreamEvidence['kind'], ...(reason !== undefined ? { reason } : {}), processes };
}

function member<T>(name: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof VerifierError)) throw err;
    throw new VerifierError('BODY_MALFORMED', `"${name}": ${err.message}`, { cause: err });
  }
}

/**
 * An evidence post's members (docs/evidence.md), each bounded: the nonce, the checkpoint note,
 * the quote, the agent's log from `log.from`, the consistency proof and the v2 members.
 * @throws VerifierError BODY_MALFORMED naming the member
 */
export function evidenceOf(body: Record<string, unknown>): Evidence {
  const quote = asObject(body.quote, 'quote');
  const log = asObject(body.log, 'log');
  const from = log.from;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)
    throw new VerifierError('BODY_MALFORMED', '"log.from" must be a non-negative integer');
  return {
    nonce: stringField(body, 'nonce', 64),
    note: stringField(body, 'checkpoint', 128 * 1024),
    attest: bytesField(quote, 'attest', 4096),
    signature: bytesField(quote, 'signature', 4096),
    pcrs: bytesField(quote, 'pcrs', 64 * 1024),
    logFrom: from,
    log: bytesField(log, 'entries', b64(EVIDENCE_LIMITS.app)),
    consistency: body.consistency ?? null,
    ...kernelMembers(body),
  };
}
