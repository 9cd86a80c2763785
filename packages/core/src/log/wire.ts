import { fromBase64, toBase64 } from '../bytes/encoding.ts';
import { CoreError } from '../errors.ts';
import { LOG_HASH_SIZE } from './hash.ts';
import {
  type ConsistencyProof,
  consistencyProofLength,
  type InclusionProof,
  inclusionProofLength,
} from './prove.ts';

// The JSON form of proofs that the agent and the verifier serve: docs/proofs.md, version 1.
// A change to these shapes bumps PROOF_VERSION.

/** Version of the proof wire format (docs/proofs.md). */
export const PROOF_VERSION = 1;
/** Most hashes a proof may carry: a tree of 2^53 - 1 leaves needs at most 53 (inclusion) or 54. */
export const MAX_PROOF_HASHES = 64;

/** Wire form of an inclusion proof. */
export interface InclusionProofJson {
  v: 1;
  type: 'inclusion';
  index: number;
  size: number;
  hashes: string[];
}

/** Wire form of a consistency proof. */
export interface ConsistencyProofJson {
  v: 1;
  type: 'consistency';
  from: number;
  to: number;
  hashes: string[];
}

/** The JSON value of an inclusion proof (pass it to JSON.stringify). */
export function encodeInclusionProof(p: InclusionProof): InclusionProofJson {
  return { v: 1, type: 'inclusion', index: p.index, size: p.size, hashes: p.hashes.map(toBase64) };
}

/** The JSON value of a consistency proof. */
export function encodeConsistencyProof(p: ConsistencyProof): ConsistencyProofJson {
  return { v: 1, type: 'consistency', from: p.from, to: p.to, hashes: p.hashes.map(toBase64) };
}

function malformed(detail: string, cause?: unknown): CoreError {
  return new CoreError('PROOF_MALFORMED', detail, cause === undefined ? undefined : { cause });
}

/** Checks the envelope shared by both proof types and returns the decoded hashes. */
function envelope(value: unknown, type: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed('proof is not an object');
  const obj = value as Record<string, unknown>;
  if (typeof obj.v !== 'number') throw malformed('proof has no version');
  if (obj.v !== PROOF_VERSION)
    throw new CoreError(
      'PROOF_VERSION_UNSUPPORTED',
      `proof version ${obj.v}, this build reads ${PROOF_VERSION}`,
    );
  if (obj.type !== type) throw malformed(`proof type ${JSON.stringify(obj.type)}, expected ${type}`);
  const wanted = ['v', 'type', ...keys, 'hashes'];
  const actual = Object.keys(obj);
  const extra = actual.filter((k) => !wanted.includes(k));
  const missing = wanted.filter((k) => !actual.includes(k));
  if (extra.length > 0 || missing.length > 0)
    throw malformed(`fields differ: unknown [${extra.join(', ')}], missing [${missing.join(', ')}]`);
  for (const k of keys) {
    const n = obj[k];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
      throw malformed(`${k} is not a non-negative safe integer`);
  }
  return obj;
}

function hashes(value: unknown, expected: number): Uint8Array[] {
  if (!Array.isArray(value) || value.length > MAX_PROOF_HASHES)
    throw malformed('hashes is not an array of <= 64');
  if (value.length !== expected)
    throw new CoreError(
      'PROOF_LENGTH_INVALID',
      `proof holds ${value.length} hashes, the sizes need ${expected}`,
    );
  return value.map((h, i) => {
    if (typeof h !== 'string') throw malformed(`hash ${i} is not a string`);
    let b: Uint8Array;
    try {
      b = fromBase64(h);
    } catch (cause) {
      throw malformed(`hash ${i} is not canonical base64`, cause);
    }
    if (b.length !== LOG_HASH_SIZE) throw malformed(`hash ${i} is ${b.length} bytes, 32 expected`);
    return b;
  });
}

/**
 * Decodes the JSON value of an inclusion proof (untrusted): exact fields, version 1, safe
 * integers, index < size, as many 32-byte hashes as the sizes need.
 * @throws CoreError PROOF_MALFORMED | PROOF_VERSION_UNSUPPORTED | PROOF_RANGE_INVALID | PROOF_LENGTH_INVALID
 */
export function decodeInclusionProof(value: unknown): InclusionProof {
  const obj = envelope(value, 'inclusion', ['index', 'size']);
  const index = obj.index as number;
  const size = obj.size as number;
  if (index >= size) throw new CoreError('PROOF_RANGE_INVALID', `index ${index} is not below size ${size}`);
  return { index, size, hashes: hashes(obj.hashes, inclusionProofLength(index, size)) };
}

/**
 * Decodes the JSON value of a consistency proof (untrusted): exact fields, version 1, safe
 * integers, from <= to, as many 32-byte hashes as the sizes need.
 * @throws CoreError PROOF_MALFORMED | PROOF_VERSION_UNSUPPORTED | PROOF_RANGE_INVALID | PROOF_LENGTH_INVALID
 */
export function decodeConsistencyProof(value: unknown): ConsistencyProof {
  const obj = envelope(value, 'consistency', ['from', 'to']);
  const from = obj.from as number;
  const to = obj.to as number;
  if (from > to) throw new CoreError('PROOF_RANGE_INVALID', `from ${from} is above to ${to}`);
  return { from, to, hashes: hashes(obj.hashes, consistencyProofLength(from, to)) };
}
