import {
  agentKeyId,
  type Check,
  CORE_ERROR_CODES,
  checkExchange,
  checkSignedReceipt,
  fromBase64Url,
  L1_CHECKS,
  levelOf,
  minLevel,
  receiptClientNonce,
} from '@tmb/core';
import { type BoundResult, bindingCheck, boundKey } from './bound.ts';
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
  'verifier.binding',
  'receipt.format',
  'receipt.signature',
  'receipt.id',
  'agent.enrolled',
  'client.request_hash',
  'client.response_hash',
  'client.nonce',
  'client.response_complete',
] as const;

/** What the client knows when it appraises one exchange. */
export interface Evidence {
  receiptId: string | null;
  requestId: string | null;
  request: Uint8Array;
  response: CapturedBody;
  /** The `tmb-client-nonce` sent with the request; null when none was sent. */
  nonce: string | null;
  /** Checks made so far (header, source, verifier answer), in CLIENT_CHECKS order. */
  checks: ClientCheck[];
  answer: VerifierAnswer | null;
  /** The `verifier.result` check; left out: failed, no verifierKey configured. */
  resultCheck?: ClientCheck;
  /** The signed members of the verifier's result, when `resultCheck` passed. */
  bound?: BoundResult | null;
}

// Checks the client makes itself or that only describe the verifier's view: not copied from
// the verifier's signed checks. receipt.exchange is the verifier's "only the client can say",
// said here by client.request_hash and client.response_hash.
const OWN: ReadonlySet<string> = new Set<string>([...CLIENT_CHECKS, 'receipt.exchange', ...L1_CHECKS]);

/**
 * The client's own appraisal. It checks the receipt's signature itself under the agent key the
 * verifier's signed result names, that the receipt is the one the response named, that its
 * hashes are those of the exact bytes sent and received and that it carries the nonce sent.
 * Everything else comes from the verifier's signed EAR result (`bound`): enrolment (only the
 * verifier knows who enrolled), its other checks "per the verifier", and its level, which the
 * client's level never exceeds. The unsigned answer is used only where its digest matched
 * (`verifier.binding`). Every check in CLIENT_CHECKS appears, skipped when an earlier one left
 * nothing to check.
 */
export function appraiseExchange(e: Evidence): ClientResult {
  const checks = [...e.checks];
  const result: Partial<ClientResult> = {};
  const bound = e.bound ?? null;
  if (e.answer !== null) {
    const a = e.answer;
    result.receipt = a.receipt;
    result.verdict = a.verdict;
    if (typeof a.result === 'string') result.result = a.result;
    checks.push(
      e.resultCheck ?? {
        name: 'verifier.result',
        status: 'fail',
        code: 'VERIFIER_NOT_CONFIGURED',
        detail:
          "no verifierKey configured: the verifier's signed result cannot be checked, so nothing it says counts",
      },
    );
    let receiptBytes: Uint8Array | null;
    try {
      receiptBytes = fromBase64Url(a.receipt.body);
    } catch {
      receiptBytes = null;
    }
    let attestation = a.attestation;
    if (bound !== null && receiptBytes !== null) {
      const b = bindingCheck(bound, { receiptBytes, agentKey: a.agentKey, attestation });
      checks.push(b.check);
      if (!b.attestationOk) attestation = undefined;
      result.host = bound.host;
      result.tpm = bound.tpm;
    }
    // The key the signed result names; without a verified result, the answer's (for display:
    // the level is none then anyway).
    const key = boundKey(bound !== null ? bound.agentKey : a.agentKey);
    const own = checkSignedReceipt(a.receipt, (id) =>
      key !== undefined && agentKeyId(key) === id ? key : undefined,
    );
    checks.push(...own.checks);
    if (own.body !== null && receiptBytes !== null) {
      const body = own.body;
      result.body = body;
      const signed = bound?.checks ?? [];
      checks.push(
        body.id === e.receiptId
          ? { name: 'receipt.id', status: 'pass', detail: `receipt ${body.id} is the one the response named` }
          : {
              name: 'receipt.id',
              status: 'fail',
              code: 'RECEIPT_ID_MISMATCH',
              detail: `response named ${e.receiptId}, verifier returned ${body.id}`,
            },
        enrolment(bound, body.agent, body.key),
        ...checkExchange(body, e.request, e.response.bytes),
        nonceCheck(e.nonce, receiptClientNonce(body), body.v),
        ...l1ClientChecks(signed, body, receiptBytes, attestation),
        ...verifierChecks(signed),
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
  const own = levelOf(checks as Check[], { client: true });
  return {
    receiptId: e.receiptId,
    requestId: e.requestId ?? result.body?.request.id ?? null,
    level: bound === null ? 'none' : minLevel(own, bound.level),
    ok: bound?.ok === true && checks.every((c) => c.status !== 'fail'),
    checks,
    ...result,
  };
}

function order(name: string): number {
  const i = (CLIENT_CHECKS as readonly string[]).indexOf(name);
  if (i >= 0) return i;
  // L1 checks, when the verifier gave them, come after the client's own (docs/result.md), then
  // the verifier's other checks in the order it gave them (sort is stable).
  const j = (L1_CHECKS as readonly string[]).indexOf(name);
  return CLIENT_CHECKS.length + (j >= 0 ? j : L1_CHECKS.length);
}

/** `client.nonce`: the receipt carries the nonce this client sent (receipt v2, `client.nonce`). */
function nonceCheck(sent: string | null, got: string | null, v: number): ClientCheck {
  const name = 'client.nonce';
  if (sent !== null && got === sent)
    return { name, status: 'pass', detail: `the receipt carries the nonce sent with the request` };
  return {
    name,
    status: 'fail',
    code: 'CLIENT_NONCE_MISMATCH',
    detail:
      v === 1
        ? "a v1 receipt carries no client nonce: it may be any request's receipt"
        : got === null
          ? 'the receipt carries no client nonce: the agent did not receive the one sent'
          : `the receipt carries nonce ${got.slice(0, 12)}…, not the one sent with this request: it is another request's receipt`,
  };
}

/** `agent.enrolled` from the verifier's signed enrolment record of the key (tmb.enrolment). */
function enrolment(bound: BoundResult | null, agent: string, keyId: string): ClientCheck {
  const name = 'agent.enrolled';
  if (bound === null) return { name, status: 'skipped', detail: 'no verified result from the verifier' };
  const e = bound.enrolment;
  if (e !== null && e.agent === agent && e.keyId === keyId) {
    return {
      name,
      status: 'pass',
      detail: `per the verifier's signed result: key ${keyId.slice(0, 16)}… enrolled for ${JSON.stringify(agent)} at ${new Date(e.enrolledAt).toISOString()}`,
    };
  }
  const theirs = bound.checks.find((c) => c.name === name && c.status === 'fail');
  return {
    name,
    status: 'fail',
    code: knownCode(theirs?.code) ?? 'AGENT_KEY_NOT_ENROLLED',
    detail:
      e === null
        ? `per the verifier's signed result: key ${keyId.slice(0, 16)}… is not enrolled`
        : `per the verifier's signed result: the key enrolled is ${e.keyId.slice(0, 16)}… for ${JSON.stringify(e.agent)}, the receipt names ${keyId.slice(0, 16)}… for ${JSON.stringify(agent)}`,
  };
}

function knownCode(code: unknown): Check['code'] | undefined {
  return (CORE_ERROR_CODES as readonly unknown[]).includes(code) ? (code as Check['code']) : undefined;
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

/**
 * The verifier's signed checks the client does not make itself (registry, telemetry, policy
 * and any other), carried "per the verifier". Signed, so not taken on the network's word; an
 * unknown code is dropped, the failure kept (a failed check of unknown name caps the level at
 * none, as in the verifier's own level).
 */
function verifierChecks(signed: readonly Check[]): ClientCheck[] {
  const out: ClientCheck[] = [];
  for (const c of signed) {
    if (OWN.has(c.name)) continue;
    const detail = `per the verifier: ${c.detail}`;
    const code = knownCode(c.code);
    out.push(
      c.status === 'fail'
        ? { name: c.name, status: 'fail', ...(code ? { code } : {}), detail }
        : { name: c.name, status: c.status, detail },
    );
  }
  return out;
}
