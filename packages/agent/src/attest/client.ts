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

/** A refusal of the verifier, with the checks it named (evidence) when it gave them. */
export class VerifierRefusal extends AgentError {
  readonly status: number;
  readonly verifierCode: string;
  readonly checks: unknown[];

  constructor(status: number, verifierCode: string, message: string, checks: unknown[]) {
    super('AGENT_PUSH_FAILED', message);
    this.status = status;
    this.verifierCode = verifierCode;
    this.checks = checks;
  }
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
      const v = value as { error?: { code?: string; message?: string }; checks?: unknown[] };
      throw new VerifierRefusal(
        res.status,
        String(v.error?.code ?? 'UNKNOWN'),
        `verifier answered ${res.status} ${v.error?.code ?? ''} to ${path}: ${String(v.error?.message ?? '').slice(0, 300)}`,
        Array.isArray(v.checks) ? v.checks : [],
      );
    }
    return value as T;
  }
}
