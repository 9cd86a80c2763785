import { Cursor } from '../bytes/cursor.ts';
import { ParseError } from '../errors.ts';
import { readTpm2b, TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY, TPM_ST_ATTEST_QUOTE } from './alg.ts';
import { type PcrBank, readPcrSelection } from './selection.ts';

/** TPMS_CLOCK_INFO (TPM 2.0 Part 2, 10.11.1). 64-bit values are bigint. */
export interface ClockInfo {
  /** Milliseconds the TPM has been powered since it was made; never goes back while `safe`. */
  clock: bigint;
  resetCount: number;
  restartCount: number;
  /** TPMI_YES_NO: false when clock may have gone back (an unorderly shutdown). */
  safe: boolean;
}

/** TPMS_QUOTE_INFO (Part 2, 10.12.4). */
export interface QuoteInfo {
  pcrSelect: PcrBank[];
  pcrDigest: Uint8Array;
}

/** TPMS_CERTIFY_INFO (Part 2, 10.12.3): the certified object's name and qualified name. */
export interface CertifyInfo {
  name: Uint8Array;
  qualifiedName: Uint8Array;
}

/**
 * A parsed TPMS_ATTEST (Part 2, 10.12.12). `magic` and `type` are read, not judged: verifyQuote
 * and verifyCertify name a wrong one. `quote` is set only when type is TPM_ST_ATTEST_QUOTE,
 * `certify` only when it is TPM_ST_ATTEST_CERTIFY; other attestation types are not parsed further.
 */
export interface Attest {
  /** The exact TPMS_ATTEST bytes, which the signature covers. */
  bytes: Uint8Array;
  magic: number;
  type: number;
  qualifiedSigner: Uint8Array;
  extraData: Uint8Array;
  clockInfo: ClockInfo;
  firmwareVersion: bigint;
  quote: QuoteInfo | null;
  certify: CertifyInfo | null;
}

/** TPM2B_NAME holds a TPMU_NAME: a TPMT_HA (2 + 64 bytes) at most. */
const MAX_NAME = 66;
/** TPM2B_DATA is sized by a TPMT_HA. */
const MAX_DATA = 66;
const MAX_DIGEST = 64;
/** TPM2B_ATTEST's buffer (Part 2, 10.12.13): sizeof(TPMS_ATTEST) is well under 1 KiB. */
export const MAX_ATTEST_BYTES = 1024;

function body(c: Cursor): Attest {
  const magic = c.u32be('magic');
  const type = c.u16be('type');
  const qualifiedSigner = readTpm2b(c, MAX_NAME, 'qualifiedSigner');
  const extraData = readTpm2b(c, MAX_DATA, 'extraData');
  const clock = c.u64be('clockInfo.clock');
  const resetCount = c.u32be('clockInfo.resetCount');
  const restartCount = c.u32be('clockInfo.restartCount');
  const safeAt = c.offset;
  const safeByte = c.u8('clockInfo.safe');
  if (safeByte > 1)
    throw new ParseError(
      'TPM_VALUE_INVALID',
      c.structure,
      'clockInfo.safe',
      safeAt,
      `TPMI_YES_NO ${safeByte}`,
    );
  const firmwareVersion = c.u64be('firmwareVersion');
  let quote: QuoteInfo | null = null;
  let certify: CertifyInfo | null = null;
  if (type === TPM_ST_ATTEST_CERTIFY) {
    const name = readTpm2b(c, MAX_NAME, 'attested.certify.name');
    const qualifiedName = readTpm2b(c, MAX_NAME, 'attested.certify.qualifiedName');
    certify = { name, qualifiedName };
  } else if (type === TPM_ST_ATTEST_QUOTE) {
    const pcrSelect = readPcrSelection(c, 'attested.quote.pcrSelect');
    const pcrDigest = readTpm2b(c, MAX_DIGEST, 'attested.quote.pcrDigest');
    quote = { pcrSelect, pcrDigest };
  } else {
    c.take(c.remaining, 'attested'); // another TPMU_ATTEST arm: kept unparsed, judged by type
  }
  return {
    bytes: c.bytes,
    magic,
    type,
    qualifiedSigner,
    extraData,
    clockInfo: { clock, resetCount, restartCount, safe: safeByte === 1 },
    firmwareVersion,
    quote,
    certify,
  };
}

/**
 * The TPMS_ATTEST inside attestation bytes: a bare TPMS_ATTEST as `tpm2_quote -m` writes it, or
 * a TPM2B_ATTEST (big-endian u16 size first). It is read as a TPM2B_ATTEST only when it does not
 * start with TPM_GENERATED_VALUE and its size accounts for exactly the rest; anything else is
 * taken as a TPMS_ATTEST, whose wrong magic verifyQuote then names. Never throws.
 */
export function attestBody(bytes: Uint8Array): Uint8Array {
  const magic =
    bytes.length >= 4 ? ((bytes[0]! << 24) | (bytes[1]! << 16) | (bytes[2]! << 8) | bytes[3]!) >>> 0 : -1;
  if (
    magic !== TPM_GENERATED_VALUE &&
    bytes.length >= 2 &&
    ((bytes[0]! << 8) | bytes[1]!) === bytes.length - 2
  )
    return bytes.subarray(2);
  return bytes;
}

/**
 * Parses attestation bytes (see attestBody for the two forms), rejecting trailing bytes.
 * @throws ParseError TRUNCATED, TRAILING_BYTES, LENGTH_TOO_LARGE, TPM_VALUE_INVALID,
 *   TPM_PCR_SELECTION_INVALID, TPM_ALG_UNSUPPORTED
 */
export function parseAttest(bytes: Uint8Array): Attest {
  const inner = attestBody(bytes);
  if (inner.length > MAX_ATTEST_BYTES)
    throw new ParseError(
      'LENGTH_TOO_LARGE',
      'TPMS_ATTEST',
      'bytes',
      0,
      `${inner.length} bytes, cap ${MAX_ATTEST_BYTES}`,
    );
  const c = new Cursor(inner, 'TPMS_ATTEST');
  const attest = body(c);
  c.end();
  return attest;
}
