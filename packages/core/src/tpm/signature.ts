import { Cursor } from '../bytes/cursor.ts';
import type { HashName } from '../crypto/hash.ts';
import { ParseError } from '../errors.ts';
import { readHashAlg, readTpm2b, TpmAlg, unsupported } from './alg.ts';

/** A parsed TPMT_SIGNATURE (TPM 2.0 Part 2, 11.3.4): ECDSA, RSASSA or RSAPSS. */
export type TpmSignature =
  | { sigAlg: typeof TpmAlg.ECDSA; hashAlg: number; hash: HashName; r: Uint8Array; s: Uint8Array }
  | {
      sigAlg: typeof TpmAlg.RSASSA | typeof TpmAlg.RSAPSS;
      hashAlg: number;
      hash: HashName;
      sig: Uint8Array;
    };

const MAX_ECC_BYTES = 66;
const MAX_RSA_BYTES = 512;

/**
 * Parses a TPMT_SIGNATURE as `tpm2_quote -s` writes it (big-endian, no size prefix):
 * sigAlg, then TPMS_SIGNATURE_ECDSA (hash, TPM2B r, TPM2B s; 11.3.2) or TPMS_SIGNATURE_RSA
 * (hash, TPM2B sig; 11.3.1). SHA-1 signatures are refused.
 * @throws ParseError TRUNCATED, TRAILING_BYTES, LENGTH_TOO_LARGE, TPM_ALG_UNSUPPORTED
 */
export function parseSignature(bytes: Uint8Array): TpmSignature {
  const c = new Cursor(bytes, 'TPMT_SIGNATURE');
  const algAt = c.offset;
  const sigAlg = c.u16be('sigAlg');
  if (sigAlg !== TpmAlg.ECDSA && sigAlg !== TpmAlg.RSASSA && sigAlg !== TpmAlg.RSAPSS)
    throw unsupported(c, 'sigAlg', algAt, sigAlg);
  const hashAt = c.offset;
  const { alg: hashAlg, hash } = readHashAlg(c, 'signature.hash');
  if (hash === 'sha1') throw unsupported(c, 'signature.hash', hashAt, hashAlg);
  let out: TpmSignature;
  if (sigAlg === TpmAlg.ECDSA) {
    const r = readTpm2b(c, MAX_ECC_BYTES, 'signature.signatureR');
    const s = readTpm2b(c, MAX_ECC_BYTES, 'signature.signatureS');
    if (r.length === 0 || s.length === 0)
      throw new ParseError('TPM_VALUE_INVALID', c.structure, 'signature', hashAt, 'empty r or s');
    out = { sigAlg, hashAlg, hash, r, s };
  } else {
    const sig = readTpm2b(c, MAX_RSA_BYTES, 'signature.sig');
    if (sig.length === 0)
      throw new ParseError('TPM_VALUE_INVALID', c.structure, 'signature.sig', hashAt, 'empty');
    out = { sigAlg, hashAlg, hash, sig };
  }
  c.end();
  return out;
}
