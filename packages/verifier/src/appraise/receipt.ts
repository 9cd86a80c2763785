import {
  type Check,
  checkSignedReceipt,
  ed25519Verify,
  levelOf,
  type ReceiptBody,
  receiptSigningMessage,
  type SignedReceipt,
  toBase64Url,
  toSignedReceipt,
  type Verdict,
} from '@tmb/core';
import type { KeyRecord, StoredReceipt } from '../store/types.ts';
import { setCheck } from './checks.ts';
import type { Attestation } from './l1.ts';

/** What GET /v1/receipts/:id answers for one receipt (docs/api.md). */
export interface ReceiptResult {
  receipt: SignedReceipt;
  /** The decoded body, or null when the stored bytes no longer decode. */
  body: ReceiptBody | null;
  /** base64url of the raw Ed25519 key the receipt names, or null when none is enrolled under that id. */
  agentKey: string | null;
  verdict: Verdict;
  /** The verdict as an EAR attestation result (ES256 JWT, docs/result.md), when a signer is given. */
  result?: string;
  /** The quoted checkpoint covering the receipt, its inclusion proof and quote, once one covers it. */
  attestation?: Attestation;
}

/**
 * Appraises a stored receipt from its stored bytes (so a byte changed at rest shows as a
 * failed check, never as a crash): the L0 part of its verdict. `key` is the enrolled key for
 * the id the body names. Checks, in order: receipt.format, receipt.signature, receipt.id,
 * agent.enrolled, receipt.exchange (docs/result.md).
 */
export function appraiseReceipt(stored: StoredReceipt, key: KeyRecord | undefined): ReceiptResult {
  const receipt = toSignedReceipt(stored.body, stored.sig);
  const { body, checks } = checkSignedReceipt(receipt, (id) => (key?.keyId === id ? key.key : undefined));
  if (body !== null && key !== undefined && body.key !== key.keyId) {
    // The body now names another key than the one it was accepted under: a changed byte in
    // the key field. Say what holds: the accepting key's signature no longer verifies.
    const valid = ed25519Verify(key.key, receiptSigningMessage(stored.body), stored.sig);
    setCheck(
      checks,
      'receipt.signature',
      valid
        ? { status: 'pass', detail: `signed by agent key ${key.keyId.slice(0, 16)}…` }
        : {
            status: 'fail',
            code: 'RECEIPT_SIGNATURE_INVALID',
            detail: `body names key ${body.key.slice(0, 16)}…; it was accepted under ${key.keyId.slice(0, 16)}…, whose signature does not verify`,
          },
    );
  }
  if (body === null) {
    checks.push(
      skipped('receipt.signature', 'the body does not decode'),
      skipped('receipt.id', 'the body does not decode'),
      skipped('agent.enrolled', 'the body does not decode'),
      skipped('receipt.exchange', 'the body does not decode'),
    );
  } else {
    checks.push(idCheck(stored.id, body), enrolledCheck(body, key), {
      name: 'receipt.exchange',
      status: 'asserted',
      detail: `request ${body.request.sha256.slice(0, 16)}… (${body.request.bytes} bytes) and response ${body.response.sha256.slice(0, 16)}… (${body.response.bytes} bytes) hashes present; only the client can compare them with its bytes`,
    });
  }
  const level = levelOf(checks);
  return {
    receipt,
    body,
    agentKey: key !== undefined && body !== null && key.keyId === body.key ? toBase64Url(key.key) : null,
    verdict: {
      receiptId: stored.id,
      requestId: body?.request.id ?? stored.requestId,
      level,
      ok: checks.every((c) => c.status !== 'fail'),
      checks,
    },
  };
}

function skipped(name: string, why: string): Check {
  return { name, status: 'skipped', detail: why };
}

function idCheck(id: string, body: ReceiptBody): Check {
  return body.id === id
    ? { name: 'receipt.id', status: 'pass', detail: `receipt id ${id}` }
    : {
        name: 'receipt.id',
        status: 'fail',
        code: 'RECEIPT_ID_MISMATCH',
        detail: `stored under ${id}, body says ${body.id}`,
      };
}

function enrolledCheck(body: ReceiptBody, key: KeyRecord | undefined): Check {
  if (key === undefined || key.keyId !== body.key) {
    return {
      name: 'agent.enrolled',
      status: 'fail',
      code: 'AGENT_KEY_UNKNOWN',
      detail: `no key ${body.key.slice(0, 16)}… is enrolled`,
    };
  }
  if (key.agent !== body.agent) {
    return {
      name: 'agent.enrolled',
      status: 'fail',
      code: 'AGENT_KEY_NOT_ENROLLED',
      detail: `key ${body.key.slice(0, 16)}… is enrolled for ${JSON.stringify(key.agent)}, the receipt names ${JSON.stringify(body.agent)}`,
    };
  }
  return {
    name: 'agent.enrolled',
    status: 'pass',
    detail: `key ${body.key.slice(0, 16)}… enrolled for ${JSON.stringify(key.agent)} at ${new Date(key.enrolledAt).toISOString()}`,
  };
}
