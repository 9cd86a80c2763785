import {
  agentKeyId,
  type Check,
  CORE_ERROR_CODES,
  checkExchange,
  checkSignedReceipt,
  fromBase64Url,
  L1_CHECKS,
  L1_HOST_CHECKS,
  L2_CHECKS,
  levelOf,
} from '@tmb/core';
import type { CapturedBody } from './capture.ts';
import { l1ClientChecks } from './inclusion.ts';
import type { ClientCheck, ClientResult } from './types.ts';
import type { VerifierAnswer } from './verifier.ts';

/** Check names of a client result, in order (docs/result.md). */
export const CLIENT_CHECKS = [
  'client.receipt_header',
  'verifier.source',
  'verifier.answer',
  'verifier.result',
  'receipt.format',
  'receipt.signature',
  'receipt.id',
  'agent.enrolled',
  'client.request_hash',
  'client.response_hash',
  'client.response_complete',
] as const;

/** What the client knows when it appraises one exchange. */
export interface Evidence {
  receiptId: string | null;
  requestId: string | null;
  request: Uint8Array;
  response: CapturedBody;
  /** Checks made so far (header, source, verifier answer), in CLIENT_CHECKS order. */
  checks: ClientCheck[];
  answer: VerifierAnswer | null;
  /** The `verifier.result` check, when the caller configured a verifier key. */
  resultCheck?: ClientCheck;
}

/**
 * The client's own appraisal: it checks the receipt's signature itself with the key the
 * verifier returned, that the receipt is the one the response named, and that its hashes are
 * those of the exact bytes sent and received. Enrolment is taken from the verifier's verdict
 * (only the verifier knows who enrolled). Every check in CLIENT_CHECKS appears, skipped when
 * an earlier one left nothing to check.
 */
export function appraiseExchange(e: Evidence): ClientResult {
  const checks = [...e.checks];
  const result: Partial<ClientResult> = {};
  if (e.answer !== null) {
    const a = e.answer;
    result.receipt = a.receipt;
    result.verdict = a.verdict;
    if (typeof a.result === 'string') result.result = a.result;
    checks.push(
      e.resultCheck ?? { name: 'verifier.result', status: 'skipped', detail: 'no verifierKey configured' },
    );
    let key: Uint8Array | undefined;
    try {
      key = a.agentKey === null ? undefined : fromBase64Url(a.agentKey);
    } catch {
      key = undefined;
    }
    const own = checkSignedReceipt(a.receipt, (id) =>
      key !== undefined && agentKeyId(key) === id ? key : undefined,
    );
    checks.push(...own.checks);
    if (own.body !== null) {
      const body = own.body;
      result.body = body;
      checks.push(
        body.id === e.receiptId
          ? { name: 'receipt.id', status: 'pass', detail: `receipt ${body.id} is the one the response named` }
          : {
              name: 'receipt.id',
              status: 'fail',
              code: 'RECEIPT_ID_MISMATCH',
              detail: `response named ${e.receiptId}, verifier returned ${body.id}`,
            },
        enrolment(a.verdict.checks),
        ...checkExchange(body, e.request, e.response.bytes),
        ...l1ClientChecks(a.verdict.checks, body, fromBase64Url(a.receipt.body), a.attestation),
        ...hostChecks(a.verdict.checks),
      );
    }
  }
  checks.push(completeness(e.response));
  const seen = new Set(checks.map((c) => c.name));
  for (const name of CLIENT_CHECKS) {
    if (!seen.has(name))
      checks.push({ name, status: 'skipped', detail: 'nothing to check: an earlier check failed' });
  }
  checks.sort((x, y) => order(x.name) - order(y.name));
  return {
    receiptId: e.receiptId,
    requestId: e.requestId ?? result.body?.request.id ?? null,
    level: levelOf(checks as Check[]),
    ok: checks.every((c) => c.status !== 'fail'),
    checks,
    ...result,
  };
}

function order(name: string): number {
  const i = (CLIENT_CHECKS as readonly string[]).indexOf(name);
  // L1 checks, when the verifier gave them, come after the client's own (docs/result.md).
  return i >= 0 ? i : CLIENT_CHECKS.length + (L1_CHECKS as readonly string[]).indexOf(name);
}

function enrolment(verdictChecks: readonly unknown[]): ClientCheck {
  const c = verdictChecks.find(
    (x): x is Check => typeof x === 'object' && x !== null && (x as Check).name === 'agent.enrolled',
  );
  if (c === undefined || !['pass', 'fail'].includes(c.status)) {
    return {
      name: 'agent.enrolled',
      status: 'fail',
      code: 'VERIFIER_ANSWER_INVALID',
      detail: 'the verdict has no agent.enrolled check',
    };
  }
  return c.status === 'pass'
    ? { name: 'agent.enrolled', status: 'pass', detail: `per the verifier: ${String(c.detail)}` }
    : {
        name: 'agent.enrolled',
        status: 'fail',
        code: (CORE_ERROR_CODES as readonly unknown[]).includes(c.code) ? c.code : 'AGENT_KEY_NOT_ENROLLED',
        detail: `per the verifier: ${String(c.detail)}`,
      };
}

function completeness(r: CapturedBody): ClientCheck {
  const n = r.bytes.length;
  switch (r.end) {
    case 'complete':
      return { name: 'client.response_complete', status: 'pass', detail: `read to the end, ${n} bytes` };
    case 'cancelled':
      // The openai client cancels an SSE body after `data: [DONE]`, with every byte read:
      // whether anything was missing is for client.response_hash to say.
      return {
        name: 'client.response_complete',
        status: 'skipped',
        detail: `the reader cancelled the body after ${n} bytes; the hash check covers the bytes received`,
      };
    case 'errored':
      return {
        name: 'client.response_complete',
        status: 'fail',
        code: 'RESPONSE_INCOMPLETE',
        detail: `the response body broke off after ${n} bytes`,
      };
  }
}

// Checks only the verifier can make: it alone holds the measurements (docs/registry.md) and the
// telemetry samples (docs/telemetry.md).
const VERIFIER_ONLY: readonly string[] = [...L1_HOST_CHECKS, ...L2_CHECKS];

/**
 * The verifier's registry and telemetry checks (weights.allowed, host.engine, host.agent,
 * telemetry.consistent), carried "per the verifier" when its verdict has them. Untrusted:
 * anything malformed is left out, an unknown code dropped.
 */
function hostChecks(verdictChecks: readonly unknown[]): ClientCheck[] {
  const out: ClientCheck[] = [];
  for (const x of verdictChecks) {
    const c = x as Check;
    if (typeof c !== 'object' || c === null || !VERIFIER_ONLY.includes(c.name)) continue;
    if (!['pass', 'fail', 'asserted', 'skipped'].includes(c.status)) continue;
    const detail = `per the verifier: ${String(c.detail)}`;
    const code = (CORE_ERROR_CODES as readonly unknown[]).includes(c.code) ? c.code : undefined;
    out.push(
      c.status === 'fail'
        ? { name: c.name, status: 'fail', ...(code ? { code } : {}), detail }
        : { name: c.name, status: c.status, detail },
    );
  }
  return out;
}
