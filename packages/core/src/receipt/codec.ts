import { type CanonicalValue, canonicalBytes, parseCanonical } from '../bytes/canonical.ts';
import { concat, fromBase64Url, toBase64Url, utf8 } from '../bytes/encoding.ts';
import { CoreError } from '../errors.ts';
import { CLIENT_NONCE_PATTERN } from './fields.ts';
import { AGENT_NAME_PATTERN, RECEIPT_ID_PATTERN } from './ids.ts';
import { OUTCOMES, type ReceiptBody, type SignedReceipt } from './types.ts';

/** Receipt bodies over this size are refused before parsing (a v1 body is ~700 bytes, a v2 ~900). */
export const MAX_RECEIPT_BYTES = 16 * 1024;

/**
 * Domain separation: what the agent key signs is this prefix, then the body bytes. Every version
 * uses this prefix: the body's `v` is inside the signed bytes, so a body cannot be read as
 * another version than the one signed (docs/receipt.md, "Signature").
 */
export const RECEIPT_SIGNING_PREFIX: Uint8Array = utf8('tmb.receipt.v1\n');

/** The exact bytes an Ed25519 receipt signature covers. */
export function receiptSigningMessage(body: Uint8Array): Uint8Array {
  return concat(RECEIPT_SIGNING_PREFIX, body);
}

/**
 * Canonical bytes of a receipt body (v1 or v2). Validates it first, so a receipt that could not
 * be decoded again is never signed; any other version is refused.
 * @throws CoreError RECEIPT_MALFORMED | RECEIPT_VERSION_UNSUPPORTED
 */
export function encodeReceiptBody(body: ReceiptBody): Uint8Array {
  validate(body as unknown as CanonicalValue);
  return canonicalBytes(body as unknown as CanonicalValue);
}

/**
 * Decodes and validates receipt body bytes (attacker-controlled): a v1 or v2 body, each with
 * exactly its version's members.
 * @throws CoreError RECEIPT_TOO_LARGE | RECEIPT_MALFORMED | RECEIPT_NOT_CANONICAL | RECEIPT_VERSION_UNSUPPORTED
 */
export function decodeReceiptBody(bytes: Uint8Array): ReceiptBody {
  if (bytes.length > MAX_RECEIPT_BYTES) {
    throw new CoreError(
      'RECEIPT_TOO_LARGE',
      `receipt body is ${bytes.length} bytes, over ${MAX_RECEIPT_BYTES}`,
    );
  }
  const value = parseCanonical(bytes);
  validate(value);
  return value as unknown as ReceiptBody;
}

/**
 * Splits a wire receipt into body bytes and signature bytes, and decodes the body.
 * @throws CoreError (as decodeReceiptBody, and RECEIPT_MALFORMED for bad base64url or shape)
 */
export function openSignedReceipt(signed: unknown): {
  bytes: Uint8Array;
  sig: Uint8Array;
  body: ReceiptBody;
} {
  const s = signed as Partial<SignedReceipt> | null;
  if (typeof s !== 'object' || s === null || typeof s.body !== 'string' || typeof s.sig !== 'string') {
    throw new CoreError('RECEIPT_MALFORMED', 'expected {"body": base64url, "sig": base64url}');
  }
  if (s.body.length > (MAX_RECEIPT_BYTES * 4) / 3 + 4)
    throw new CoreError('RECEIPT_TOO_LARGE', 'receipt body too large');
  let bytes: Uint8Array;
  let sig: Uint8Array;
  try {
    bytes = fromBase64Url(s.body);
    sig = fromBase64Url(s.sig);
  } catch (cause) {
    throw new CoreError('RECEIPT_MALFORMED', 'receipt body or signature is not base64url', { cause });
  }
  return { bytes, sig, body: decodeReceiptBody(bytes) };
}

/** The wire form of body bytes and signature. */
export function toSignedReceipt(bytes: Uint8Array, sig: Uint8Array): SignedReceipt {
  return { body: toBase64Url(bytes), sig: toBase64Url(sig) };
}

// --- validation: exact key sets and types per version, so two encoders cannot disagree on what a body is.

type Check = (v: CanonicalValue, path: string) => void;

const HEX64 = /^[0-9a-f]{64}$/;

function fail(path: string, what: string): never {
  throw new CoreError('RECEIPT_MALFORMED', `receipt ${path}: ${what}`);
}

const str =
  (max: number, re?: RegExp): Check =>
  (v, p) => {
    if (typeof v !== 'string') fail(p, 'expected a string');
    if (v.length > max) fail(p, `longer than ${max}`);
    if (re && !re.test(v)) fail(p, `does not match ${re}`);
  };
const nullable =
  (c: Check): Check =>
  (v, p) => {
    if (v !== null) c(v, p);
  };
const uint: Check = (v, p) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(p, 'expected a non-negative integer');
};
const status: Check = (v, p) => {
  uint(v, p);
  if ((v as number) < 100 || (v as number) > 999) fail(p, 'expected an HTTP status');
};
const bool: Check = (v, p) => {
  if (typeof v !== 'boolean') fail(p, 'expected a boolean');
};
const oneOf =
  (values: readonly string[]): Check =>
  (v, p) => {
    if (typeof v !== 'string' || !values.includes(v)) fail(p, `expected one of ${values.join(', ')}`);
  };
const obj =
  (shape: Record<string, Check>): Check =>
  (v, p) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(p, 'expected an object');
    const keys = Object.keys(v);
    // Own properties only: `in` would take a member named "constructor" or "toString" as known.
    for (const k of keys) if (!Object.hasOwn(shape, k)) fail(`${p}.${k}`, 'unknown field');
    for (const [k, c] of Object.entries(shape)) {
      if (!Object.hasOwn(v, k)) fail(`${p}.${k}`, 'missing');
      c(v[k] as CanonicalValue, `${p}.${k}`);
    }
  };

// Members of every version; v2 adds `client` and `served`.
const COMMON: Record<string, Check> = {
  v: () => {},
  type: oneOf(['tmb.receipt']),
  id: str(32, RECEIPT_ID_PATTERN),
  agent: str(128, AGENT_NAME_PATTERN),
  key: str(64, HEX64),
  seq: uint,
  request: obj({
    id: str(256),
    method: str(16, /^[A-Z]+$/),
    path: str(16384),
    bytes: uint,
    sha256: str(64, HEX64),
  }),
  response: obj({
    status: nullable(status),
    upstreamStatus: nullable(status),
    stream: bool,
    bytes: uint,
    sha256: str(64, HEX64),
  }),
  model: obj({ requested: nullable(str(256)), reported: nullable(str(256)) }),
  usage: obj({ prompt: nullable(uint), completion: nullable(uint), total: nullable(uint) }),
  time: obj({ start: uint, firstByte: nullable(uint), end: uint }),
  outcome: oneOf(OUTCOMES),
};

const BODIES: Record<number, Check> = {
  1: obj(COMMON),
  2: obj({
    ...COMMON,
    client: obj({ nonce: nullable(str(128, CLIENT_NONCE_PATTERN)) }),
    served: obj({ weights: nullable(str(64, HEX64)), engine: nullable(str(64, HEX64)) }),
  }),
};

function validate(value: CanonicalValue): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('', 'expected an object');
  // A number this build has a validator for (an own entry: never an Object.prototype member).
  const body = typeof value.v === 'number' && Object.hasOwn(BODIES, value.v) ? BODIES[value.v] : undefined;
  if (body === undefined) {
    throw new CoreError(
      'RECEIPT_VERSION_UNSUPPORTED',
      `receipt version ${JSON.stringify(value.v)}, this build reads 1 and 2`,
    );
  }
  body(value, 'body');
}
