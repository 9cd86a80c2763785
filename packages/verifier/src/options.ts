import type { BootPolicyJson } from '@tmb/core/boot';
import type { ModelRegistry, RuntimePolicy } from '@tmb/core/ima';
import { VerifierError } from './errors.ts';
import type { VerifierTelemetryOptions } from './telemetry/service.ts';

/** One agent token the verifier accepts. */
export interface TokenEntry {
  /** The secret bearer token. Never logged; kept in memory only as its SHA-256. */
  token: string;
  /** When set, the token may enrol and push only for this agent name (403 otherwise).
   * Left out: the token may act for any agent name, which suits a single-tenant setup. */
  agent?: string;
}

/** How the verifier runs. */
export interface VerifierOptions {
  /** Address to listen on. Default 127.0.0.1: exposing the service is the operator's explicit choice. */
  host?: string;
  /** Port to listen on. Default 0: an ephemeral port, reported in RunningVerifier.url. */
  port?: number;
  /** SQLite database file (WAL mode), or ':memory:' for a store that ends with the process. */
  dbPath: string;
  /** Agent tokens. Empty: no agent can enrol or push, reads still work. */
  tokens: TokenEntry[];
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
   * Trusted EK CA certificates, PEM texts (`tmb verifier --tpm-roots DIR` reads every *.pem and
   * *.crt there): TPM manufacturers' root and intermediate CAs, swtpm's local CA in development.
   * Left out: no EK certificate verifies, so no agent can enrol an AK and nothing reaches L1.
   */
  tpmRoots?: string[];
  /** How long a quote nonce stays valid. Default 30 s. */
  nonceTtlMs?: number;
  /** Model registry, JSON text or parsed (docs/registry.md). Left out: no weights.allowed, host.engine or host.agent checks. */
  registry?: string | ModelRegistry;
  /** Keylime runtime policy for measured file entries, JSON text or parsed (docs/policy.md). Left out: no ima.policy check. */
  imaPolicy?: string | RuntimePolicy;
  /**
   * Measured-boot reference policy, JSON text or parsed (docs/boot.md). Left out: the UEFI event
   * log must still replay to the quoted PCRs 0-9 for host.boot to pass, and nothing more is asked
   * of it (Secure Boot state is reported, not required).
   */
  bootPolicy?: string | BootPolicyJson;
}

export type ResolvedVerifierOptions = Required<
  Omit<VerifierOptions, 'resultKeyPem' | 'telemetry' | 'registry' | 'imaPolicy' | 'bootPolicy'>
> &
  Pick<VerifierOptions, 'resultKeyPem' | 'telemetry' | 'registry' | 'imaPolicy' | 'bootPolicy'>;

/** Agent names: printable ASCII without spaces, as the receipt format allows. */
export const AGENT_NAME = /^[\x21-\x7e]{1,128}$/;

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
    maxBodyBytes: o.maxBodyBytes ?? 4 * 1024 * 1024,
    maxBatch: o.maxBatch ?? 1000,
    maxWaitMs: o.maxWaitMs ?? 30_000,
    requestTimeoutMs: o.requestTimeoutMs ?? 30_000,
    resultKeyPem: o.resultKeyPem,
    telemetry: o.telemetry,
    registry: o.registry,
    imaPolicy: o.imaPolicy,
    bootPolicy: o.bootPolicy,
    tpmRoots: o.tpmRoots ?? [],
    nonceTtlMs: o.nonceTtlMs ?? 30_000,
  };
  if (typeof r.dbPath !== 'string' || r.dbPath === '') {
    throw new VerifierError('VERIFIER_CONFIG_INVALID', 'dbPath must be a file path or ":memory:"');
  }
  for (const k of ['maxBodyBytes', 'maxBatch', 'maxWaitMs', 'requestTimeoutMs', 'nonceTtlMs'] as const) {
    if (!Number.isSafeInteger(r[k]) || r[k] <= 0) {
      throw new VerifierError('VERIFIER_CONFIG_INVALID', `${k} must be a positive integer`);
    }
  }
  if (!Number.isSafeInteger(r.port) || r.port < 0 || r.port > 65535) {
    throw new VerifierError('VERIFIER_CONFIG_INVALID', `port must be 0..65535, found ${r.port}`);
  }
  for (const t of r.tokens) {
    if (typeof t.token !== 'string' || t.token.length < 16) {
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'every agent token must be at least 16 characters');
    }
    if (t.agent !== undefined && !AGENT_NAME.test(t.agent)) {
      throw new VerifierError(
        'VERIFIER_CONFIG_INVALID',
        'a token pinned to an agent needs a valid agent name',
      );
    }
  }
  return r;
}
