import { isAgentName } from '@tmb/core';
import type { BootPolicyJson } from '@tmb/core/boot';
import type { ModelRegistry, RuntimePolicy } from '@tmb/core/ima';
import { HARDWARE_EK_ROOTS } from '@tmb/core/tpm';
import { VerifierError } from './errors.ts';
import { TrustedProxies } from './http/proxies.ts';
import { type Logger, SILENT_LOGGER } from './log.ts';
import type { DatabasePoolOptions } from './store/open.ts';
import type { Store } from './store/types.ts';
import type { VerifierTelemetryOptions } from './telemetry/service.ts';

/** One agent token the verifier accepts. */
export interface TokenEntry {
  /** The secret bearer token. Never logged; kept in memory only as its SHA-256. */
  token: string;
  /** The one agent name this token acts for: enrol, activate an AK, push, post evidence and
   * telemetry, read its own agent's listings (403 TOKEN_AGENT_MISMATCH for any other name).
   * Required: a token for every agent could enrol keys and replace AKs under another agent's
   * name, so options without one are refused (VERIFIER_CONFIG_INVALID). */
  agent: string;
}

/** Per-client-address token bucket on the routes that need no token (docs/api.md). */
export interface RateLimitOptions {
  /** Tokens added per second. Default 50. */
  perSecond?: number;
  /** Bucket size: the burst a client may send at once. Default 100. */
  burst?: number;
  /** Most client addresses tracked at once; past it the longest-idle bucket is dropped (a
   * dropped client starts again with a full bucket). Default 10,000: bounds memory. */
  maxClients?: number;
  /**
   * Load balancers (addresses or CIDR ranges, e.g. `['127.0.0.1', '10.0.0.0/8']`) whose
   * X-Forwarded-For names the client: from these peers only, a request's bucket is that of the
   * right-most hop that is not one of them (http/proxies.ts). Left out: none, so the
   * header is never read; safe, since a client could otherwise pick its own bucket by sending it.
   */
  trustProxy?: string[];
}

/** How the verifier runs. */
export interface VerifierOptions {
  /** Address to listen on. Default 127.0.0.1: exposing the service is the operator's explicit choice. */
  host?: string;
  /** Port to listen on. Default 0: an ephemeral port, reported in RunningVerifier.url. */
  port?: number;
  /** SQLite database file (WAL mode), or ':memory:' for a store that ends with the process.
   * Not opened when `databaseUrl` is given. */
  dbPath: string;
  /**
   * PostgreSQL URL (`postgres://user:password@host:5432/db`): keys, receipts, logs, attestation
   * state and telemetry live there, and several verifier processes may share it behind a load
   * balancer (docs/deploy.md "PostgreSQL"). Never logged; errors show it with the password as
   * `***`. Left out: the SQLite store at `dbPath` (one process).
   */
  databaseUrl?: string;
  /** Pool sizes and timeouts of the PostgreSQL store (store/open.ts). Left out: 10 connections
   * for queries and 10 for per-agent locks, 10 s to connect, 30 s per statement and lock wait. */
  databasePool?: DatabasePoolOptions;
  /** Agent tokens, each naming its one agent. Empty: no agent can enrol or push, public reads still work. */
  tokens: TokenEntry[];
  /**
   * Reader (auditor, dashboard) tokens, at least 16 characters each: they may read the routes
   * that list agents, keys and request ids (GET /v1/agents, GET /v1/requests/:id) for every
   * agent, and nothing else. Left out: only agent tokens, each for its own agent, read those.
   */
  readerTokens?: string[];
  /**
   * Rate limit per client address on the routes that need no token (GET /v1/receipts/:id and
   * the other public reads): 429 RATE_LIMITED with Retry-After past it. Default 50 per second,
   * burst 100; `false` turns it off (behind a proxy that limits already: every client then
   * shares the proxy's address).
   */
  rateLimit?: RateLimitOptions | false;
  /**
   * How long after a receipt's end (`time.end`, or when it reached the verifier if that is
   * earlier: `time.end` is the agent's word) a quote must cover it, for an agent with an enrolled
   * AK. Past it `receipt.included` fails RECEIPT_NOT_INCLUDED instead of staying pending. Default
   * 10,000 ms: agents quote every few seconds, so only a host whose quotes stopped misses it.
   */
  inclusionDeadlineMs?: number;
  /** The clock, Unix milliseconds. Default Date.now; tests inject one to be exact. */
  now?: () => number;
  /** Largest request body read. Default 4 MiB (a full 1000-receipt batch is about 1.2 MiB). */
  maxBodyBytes?: number;
  /** Receipts per push. Default 1000 (docs/api.md). */
  maxBatch?: number;
  /** Longest long-poll wait a GET may ask for. Default 30 s. */
  maxWaitMs?: number;
  /** PKCS#8 PEM of the EC P-256 key that signs EAR results. Left out: a key is generated at
   * start, so results verify only against GET /v1/verifier-key of this run. */
  resultKeyPem?: string;
  /** GPU telemetry: signed profiles and retention (docs/telemetry.md). Left out: samples are
   * accepted and kept, and every telemetry.consistent check is skipped for want of a profile. */
  telemetry?: VerifierTelemetryOptions;
  /** Time allowed to receive a whole request (headers and body). Default 30 s: slow-loris bound. */
  requestTimeoutMs?: number;
  /**
   * EK root CAs the operator trusts, PEM texts (`tmb verifier --ek-roots DIR`, or its older name
   * `--tpm-roots`, reads every *.pem and *.crt there): swtpm's local CA in development. A chain
   * that ends here and at no shipped vendor CA is classed `development` (docs/tpm-roots.md).
   * Left out: only EK certificates of the vendors in ekHardwareRoots verify.
   */
  tpmRoots?: string[];
  /** EK intermediate CA certificates, PEM texts (`--ek-intermediates DIR`): used to build an EK
   * chain, never trusted by themselves. Left out: chains go straight to a root, or through tpmRoots. */
  ekIntermediates?: string[];
  /** TPM vendors' EK CAs, PEM texts: an EK chain to one is classed `hardware` (docs/tpm-roots.md).
   * Left out: the shipped list (@tmb/core/tpm HARDWARE_EK_ROOTS), trusted with no flag because a
   * vendor CA proves a genuine TPM. Tests set a test CA here to play a vendor; [] trusts none. */
  ekHardwareRoots?: string[];
  /** Refuse EK certificates that chain to no hardware vendor CA: host.ek_certificate fails with
   * EK_ROOT_NOT_HARDWARE, so no receipt reaches L1 (`--require-hardware-tpm`). Default false, so a
   * swtpm (development and CI) still reaches L1, its verdict saying `tpm.root: 'development'`. */
  requireHardwareTpm?: boolean;
  /** How long a quote nonce stays valid. Default 30 s. */
  nonceTtlMs?: number;
  /** Model registry, JSON text or parsed (docs/registry.md). Left out: no weights.allowed, host.engine or host.agent checks. */
  registry?: string | ModelRegistry;
  /** Keylime runtime policy for measured file entries, JSON text or parsed (docs/policy.md). Left out: no ima.policy check. */
  imaPolicy?: string | RuntimePolicy;
  /**
   * PEM EC public key or X.509 certificate that must have signed `imaPolicy` (a DSSE envelope, as
   * `keylime_policy sign runtime` writes; docs/policy.md "Signed policies"). Given, an unsigned
   * policy is refused (IMA_POLICY_NOT_SIGNED). Left out, a signed policy is refused
   * (IMA_POLICY_KEY_REQUIRED): the verifier never takes a signature it did not check.
   */
  imaPolicyKey?: string;
  /**
   * Measured-boot reference policy, JSON text or parsed (docs/boot.md). Left out: the UEFI event
   * log must still replay to the quoted PCRs 0-9 for host.boot to pass, and nothing more is asked
   * of it (Secure Boot state is reported, not required).
   */
  bootPolicy?: string | BootPolicyJson;
  /**
   * Structured JSON log of the service's events (log.ts, docs/deploy.md "Logs"). Left out:
   * nothing is logged (the library stays quiet inside other programs and tests); `tmb verifier`
   * logs to stderr at `--log-level` (default info).
   */
  logger?: Logger;
  /**
   * Serve GET /metrics (Prometheus text) with no token, rate-limited like the other public
   * routes (`--metrics-public`). Default false: only a reader token may scrape it, since the
   * metrics name every agent and how its evidence fares.
   */
  metricsPublic?: boolean;
  /**
   * A store to use instead of opening `dbPath` (a networked store, or a test's wrapped one); the
   * caller opens and closes it. Left out: PostgreSQL at `databaseUrl`, else SQLite at `dbPath`
   * (store/open.ts), migrated on opening.
   */
  store?: Store;
}

export type ResolvedVerifierOptions = Required<
  Omit<
    VerifierOptions,
    | 'resultKeyPem'
    | 'telemetry'
    | 'registry'
    | 'imaPolicy'
    | 'imaPolicyKey'
    | 'bootPolicy'
    | 'rateLimit'
    | 'store'
    | 'databaseUrl'
    | 'databasePool'
  >
> & { rateLimit: Required<RateLimitOptions> | false } & Pick<
    VerifierOptions,
    | 'resultKeyPem'
    | 'telemetry'
    | 'registry'
    | 'imaPolicy'
    | 'imaPolicyKey'
    | 'bootPolicy'
    | 'store'
    | 'databaseUrl'
    | 'databasePool'
  >;

/**
 * Fills in defaults and checks the options.
 * @throws VerifierError VERIFIER_CONFIG_INVALID
 */
export function resolveOptions(o: VerifierOptions): ResolvedVerifierOptions {
  const r: ResolvedVerifierOptions = {
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    dbPath: o.dbPath,
    tokens: o.tokens,
    readerTokens: o.readerTokens ?? [],
    rateLimit:
      o.rateLimit === false
        ? false
        : { perSecond: 50, burst: 100, maxClients: 10_000, trustProxy: [], ...(o.rateLimit ?? {}) },
    inclusionDeadlineMs: o.inclusionDeadlineMs ?? 10_000,
    now: o.now ?? Date.now,
    maxBodyBytes: o.maxBodyBytes ?? 4 * 1024 * 1024,
    maxBatch: o.maxBatch ?? 1000,
    maxWaitMs: o.maxWaitMs ?? 30_000,
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
    resultKeyPem: o.resultKeyPem,
    telemetry: o.telemetry,
    registry: o.registry,
    imaPolicy: o.imaPolicy,
    imaPolicyKey: o.imaPolicyKey,
    bootPolicy: o.bootPolicy,
    tpmRoots: o.tpmRoots ?? [],
    ekIntermediates: o.ekIntermediates ?? [],
    ekHardwareRoots: o.ekHardwareRoots ?? HARDWARE_EK_ROOTS.map((r) => r.pem),
    requireHardwareTpm: o.requireHardwareTpm ?? false,
    nonceTtlMs: o.nonceTtlMs ?? 30_000,
    logger: o.logger ?? SILENT_LOGGER,
    metricsPublic: o.metricsPublic ?? false,
    store: o.store,
    databaseUrl: o.databaseUrl,
    databasePool: o.databasePool,
  };
  if (typeof r.dbPath !== 'string' || r.dbPath === '') {
    throw new VerifierError('VERIFIER_CONFIG_INVALID', 'dbPath must be a file path or ":memory:"');
  }
  for (const k of [
    'maxBodyBytes',
    'maxBatch',
    'maxWaitMs',
    'requestTimeoutMs',
    'nonceTtlMs',
    'inclusionDeadlineMs',
  ] as const) {
    if (!Number.isSafeInteger(r[k]) || r[k] <= 0) {
      throw new VerifierError('VERIFIER_CONFIG_INVALID', `${k} must be a positive integer`);
    }
  }
  if (!Number.isSafeInteger(r.port) || r.port < 0 || r.port > 65535) {
    throw new VerifierError('VERIFIER_CONFIG_INVALID', `port must be 0..65535, found ${r.port}`);
  }
  if (!Array.isArray(r.tokens) || !Array.isArray(r.readerTokens))
    throw new VerifierError('VERIFIER_CONFIG_INVALID', 'tokens and readerTokens must be arrays');
  const seen = new Set<string>();
  for (const [i, t] of r.tokens.entries()) {
    if (typeof t?.token !== 'string' || t.token.length < 16) {
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'every agent token must be at least 16 characters');
    }
    if (typeof t.agent !== 'string' || !isAgentName(t.agent)) {
      throw new VerifierError(
        'VERIFIER_CONFIG_INVALID',
        `agent token ${i + 1} names no agent: every token must name exactly one agent (1 to 128 printable ASCII characters, no spaces)`,
      );
    }
    if (seen.has(t.token))
      throw new VerifierError('VERIFIER_CONFIG_INVALID', `agent token ${i + 1} is listed twice`);
    seen.add(t.token);
  }
  for (const [i, t] of r.readerTokens.entries()) {
    if (typeof t !== 'string' || t.length < 16)
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'every reader token must be at least 16 characters');
    if (seen.has(t))
      throw new VerifierError(
        'VERIFIER_CONFIG_INVALID',
        `reader token ${i + 1} is also an agent token or listed twice`,
      );
    seen.add(t);
  }
  if (r.rateLimit !== false) {
    const { perSecond, burst, maxClients } = r.rateLimit;
    if (!(Number.isFinite(perSecond) && perSecond > 0) || !(Number.isSafeInteger(burst) && burst >= 1))
      throw new VerifierError(
        'VERIFIER_CONFIG_INVALID',
        'rateLimit needs perSecond > 0 and a whole burst >= 1',
      );
    if (!Number.isSafeInteger(maxClients) || maxClients < 1)
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'rateLimit.maxClients must be a positive integer');
    const proxies: unknown = r.rateLimit.trustProxy;
    if (!Array.isArray(proxies) || proxies.some((p) => typeof p !== 'string'))
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'rateLimit.trustProxy must be a list of strings');
    try {
      new TrustedProxies(proxies as string[]);
    } catch (err) {
      throw new VerifierError('VERIFIER_CONFIG_INVALID', `rateLimit.trustProxy: ${(err as Error).message}`);
    }
  }
  if (typeof r.now !== 'function')
    throw new VerifierError('VERIFIER_CONFIG_INVALID', 'now must be a function');
  return r;
}
