import { bytesEqual, fromHex, toHex } from '../bytes/encoding.ts';
import { ed25519Verify } from '../crypto/ed25519.ts';
import { sha256 } from '../crypto/hash.ts';
import { CoreError } from '../errors.ts';
import type { Check } from '../verdict/types.ts';
import { openSignedReceipt, receiptSigningMessage } from './codec.ts';
import type { ReceiptBody } from './types.ts';

/** The key id a receipt names: SHA-256 of the raw 32-byte Ed25519 public key, hex. */
export function agentKeyId(publicKeyRaw: Uint8Array): string {
  return toHex(sha256(publicKeyRaw));
}

/** Result of checking a wire receipt: its body when it decoded, and the checks made. */
export interface ReceiptCheck {
  body: ReceiptBody | null;
  bytes: Uint8Array | null;
  checks: Check[];
}

/**
 * Decodes a wire receipt and checks its signature with the key its body names.
 * `resolveKey` maps a key id to the raw Ed25519 public key, or undefined when unknown.
 * Never throws for bad evidence: every failure is a check.
 *
 * @example
 *   const { body, checks } = checkSignedReceipt(wire, (id) => keys.get(id));
 */
export function checkSignedReceipt(
  signed: unknown,
  resolveKey: (keyId: string) => Uint8Array | undefined,
): ReceiptCheck {
  let opened: ReturnType<typeof openSignedReceipt>;
  try {
    opened = openSignedReceipt(signed);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return {
      body: null,
      bytes: null,
      checks: [{ name: 'receipt.format', status: 'fail', code: err.code, detail: err.message }],
    };
  }
  const { body, bytes, sig } = opened;
  const checks: Check[] = [
    { name: 'receipt.format', status: 'pass', detail: `receipt v${body.v}, ${bytes.length} bytes` },
  ];
  const key = resolveKey(body.key);
  if (key === undefined || !bytesEqual(fromHex(agentKeyId(key)), fromHex(body.key))) {
    checks.push({
      name: 'receipt.signature',
      status: 'fail',
      code: 'AGENT_KEY_UNKNOWN',
      detail: `no public key known for key id ${body.key}`,
    });
  } else if (!ed25519Verify(key, receiptSigningMessage(bytes), sig)) {
    checks.push({
      name: 'receipt.signature',
      status: 'fail',
      code: 'RECEIPT_SIGNATURE_INVALID',
      detail: `Ed25519 signature does not verify under key ${body.key.slice(0, 16)}…`,
    });
  } else {
    checks.push({
      name: 'receipt.signature',
      status: 'pass',
      detail: `signed by agent key ${body.key.slice(0, 16)}…`,
    });
  }
  return { body, bytes, checks };
}

/**
 * Checks that a receipt covers exactly the bytes a client sent and received: the
 * relying party's own hashes, made independently of the provider.
 */
export function checkExchange(
  body: ReceiptBody,
  requestBytes: Uint8Array,
  responseBytes: Uint8Array,
): Check[] {
  const req = toHex(sha256(requestBytes));
  const res = toHex(sha256(responseBytes));
  return [
    req === body.request.sha256
      ? {
          name: 'client.request_hash',
          status: 'pass',
          detail: `request body (${requestBytes.length} bytes) matches`,
        }
      : {
          name: 'client.request_hash',
          status: 'fail',
          code: 'REQUEST_HASH_MISMATCH',
          detail: `receipt covers request ${body.request.sha256.slice(0, 16)}… (${body.request.bytes} bytes), client sent ${req.slice(0, 16)}… (${requestBytes.length} bytes)`,
        },
    res === body.response.sha256
      ? {
          name: 'client.response_hash',
          status: 'pass',
          detail: `response body (${responseBytes.length} bytes) matches`,
        }
      : {
          name: 'client.response_hash',
          status: 'fail',
          code: 'RESPONSE_HASH_MISMATCH',
          detail: `receipt covers response ${body.response.sha256.slice(0, 16)}… (${body.response.bytes} bytes), client received ${res.slice(0, 16)}… (${responseBytes.length} bytes)`,
        },
  ];
}
