import { readBoundedText } from '@tmb/core';
import { AgentError } from '../errors.ts';

const MAX_ANSWER_BYTES = 1024 * 1024;

/** A verifier's answer to POST /v1/attest/nonce (docs/evidence.md). */
export interface NonceAnswer {
  /** 32 random bytes, hex; single use, expiring. */
  nonce: string;
  /** The first measurement-log entry the verifier has not replayed to a quote yet. */
  logFrom: number;
  /** The TPM resetCount that logFrom belongs to (null before the first accepted quote). */
  resetCount: number | null;
  /** Size of the agent's latest quoted checkpoint (null before the first). */
  checkpointSize: number | null;
  /** The log run that checkpoint is of, `{run, base}` (null before the first; absent: run 0). */
  checkpointRun?: { run: number; base: number } | null;
  /**
   * Evidence v2: the next kernel IMA log entry the verifier needs (0 after a reboot). Absent
   * from a version-1 verifier: read as 0 (see kernelAsk).
   */
  kernelFrom?: number;
  /** Evidence v2: send the boot event log (the verifier has none for this boot). Absent: false. */
  bootLog?: boolean;
}

/**
 * The v2 members of a nonce answer as the agent acts on them; anything but a non-negative safe
 * integer `kernelFrom` is 0 and anything but `bootLog: true` is false, so an old verifier (which
 * sends neither) gets the whole kernel log once and no boot log unless the TPM reset.
 */
export function kernelAsk(n: NonceAnswer): { kernelFrom: number; bootLog: boolean } {
  const k = n.kernelFrom;
  return {
    kernelFrom: typeof k === 'number' && Number.isSafeInteger(k) && k >= 0 ? k : 0,
    bootLog: n.bootLog === true,
  };
}

/** The log run of the nonce answer's checkpointSize: `checkpointRun` ({run, base} or a number); 0 when absent (a verifier without runs). */
export function checkpointRunOf(n: NonceAnswer): number {
  const r = n.checkpointRun as unknown;
  if (typeof r === 'number') return r;
  if (typeof r === 'object' && r !== null && typeof (r as { run?: unknown }).run === 'number')
    return (r as { run: number }).run;
  return 0;
}

/** The `logRun` of a LOG_RUN_BROKEN evidence answer (422, docs/api.md), or undefined for any other error. */
export function brokenRun(err: unknown): LogRunAnswer | undefined {
  return err instanceof VerifierRefusal && err.logRun?.code === 'LOG_RUN_BROKEN' ? err.logRun : undefined;
}

/** An evidence answer's `logRun`: the verifier cannot follow the agent's log run (docs/api.md). */
export interface LogRunAnswer {
  code: string;
  run: number;
  base: number;
  /** The first seq of the run it cannot follow. */
  seq: number;
  detail: string;
}

/** A refusal of the verifier, with the checks it named (evidence) when it gave them. */
export class VerifierRefusal extends AgentError {
  readonly status: number;
  readonly verifierCode: string;
  readonly checks: unknown[];
  /** Present when the answer says the verifier cannot follow the current log run. */
  readonly logRun: LogRunAnswer | undefined;

  constructor(status: number, verifierCode: string, message: string, checks: unknown[], logRun?: unknown) {
    super('AGENT_PUSH_FAILED', message);
    this.status = status;
    this.verifierCode = verifierCode;
    this.checks = checks;
    this.logRun = readLogRun(logRun);
  }
}

/** The answer's `logRun` when well formed (verifier's words: bounded, typed), else undefined. */
function readLogRun(v: unknown): LogRunAnswer | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const int = (x: unknown) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  if (typeof o.code !== 'string' || !int(o.run) || !int(o.base) || !int(o.seq)) return undefined;
  return {
    code: o.code.slice(0, 64),
    run: o.run as number,
    base: o.base as number,
    seq: o.seq as number,
    detail: String(o.detail ?? '').slice(0, 512),
  };
}

/** The attestation endpoints of the verifier (POST /v1/attest/*), with the agent's token. */
export class AttestClient {
  readonly #url: string;
  readonly #token: string;
  readonly #timeoutMs: number;

  constructor(o: { url: string; token: string; timeoutMs: number }) {
    this.#url = o.url.replace(/\/$/, '');
    this.#token = o.token;
    this.#timeoutMs = o.timeoutMs;
  }

  /**
   * POSTs JSON and returns the parsed answer.
   * @throws AgentError AGENT_PUSH_FAILED when unreachable; VerifierRefusal for a non-2xx answer.
   */
  async post<T>(path: string, body: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.#url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new AgentError('AGENT_PUSH_FAILED', `verifier unreachable at ${this.#url}`, { cause });
    }
    let text: string;
    try {
      text = await readBoundedText(res, MAX_ANSWER_BYTES);
    } catch (cause) {
      throw new AgentError('AGENT_PUSH_FAILED', `verifier answer to ${path} too large or cut`, { cause });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new AgentError('AGENT_PUSH_FAILED', `verifier answered ${path} with non-JSON`, { cause });
    }
    if (!res.ok) {
      const v = value as {
        error?: { code?: string; message?: string };
        checks?: unknown[];
        logRun?: unknown;
      };
      throw new VerifierRefusal(
        res.status,
        String(v.error?.code ?? 'UNKNOWN'),
        `verifier answered ${res.status} ${v.error?.code ?? ''} to ${path}: ${String(v.error?.message ?? '').slice(0, 300)}`,
        Array.isArray(v.checks) ? v.checks : [],
        v.logRun,
      );
    }
    return value as T;
  }
}
