import { bytesEqual, toHex } from '../bytes/encoding.ts';
import { ecCurve, type PublicKey, type SignatureKind, verifySignature } from '../crypto/keys.ts';
import { CoreError, type CoreErrorCode } from '../errors.ts';
import type { Check } from '../verdict/types.ts';
import { hashName, TPM_GENERATED_VALUE, TpmAlg } from './alg.ts';
import { type Attest, attestBody, parseAttest } from './attest.ts';
import type { TpmPublic } from './public.ts';
import type { TpmSignature } from './signature.ts';

// What a TPMS_ATTEST signed by an AK needs checked whatever it attests (a quote, a
// certification): its form, magic, type and extraData, and the AK's signature over it. One
// home for both verifyQuote and verifyCertify.

export const pass = (name: string, detail: string): Check => ({ name, status: 'pass', detail });
export const fail = (name: string, code: CoreErrorCode, detail: string): Check => ({
  name,
  status: 'fail',
  code,
  detail,
});
export const skip = (name: string, detail: string): Check => ({ name, status: 'skipped', detail });

/** A CoreError as a failed check named `name`; anything else is a bug and rethrown. */
export function errorCheck(name: string, err: unknown): Check {
  if (err instanceof CoreError) return fail(name, err.code, err.message);
  throw err;
}

/** The checks' names and failure codes of one kind of attestation. */
export interface AttestedKind {
  /** Check name prefix: `tpm.quote` or `tpm.certify`. */
  prefix: string;
  /** The TPMI_ST_ATTEST it must carry, and its name. */
  type: number;
  typeName: string;
  codes: {
    magic: CoreErrorCode;
    type: CoreErrorCode;
    nonce: CoreErrorCode;
    scheme: CoreErrorCode;
    signature: CoreErrorCode;
  };
  /** The detail of a passing nonce check. */
  nonceDetail: string;
}

/**
 * `<prefix>.format`, `.magic`, `.type` and `.nonce` of a TPMS_ATTEST (untrusted bytes): it
 * parses, starts with TPM_GENERATED_VALUE, is of `kind.type`, and its extraData is `expected`.
 * Returns the parsed attestation (null when it does not parse) and the signed bytes.
 */
export function attestHeaderChecks(
  bytes: Uint8Array,
  expected: Uint8Array,
  kind: AttestedKind,
): { attest: Attest | null; body: Uint8Array; checks: Check[] } {
  const p = kind.prefix;
  const checks: Check[] = [];
  const body = attestBody(bytes);
  let attest: Attest | null = null;
  try {
    attest = parseAttest(bytes);
    checks.push(pass(`${p}.format`, 'TPMS_ATTEST parsed'));
  } catch (err) {
    checks.push(errorCheck(`${p}.format`, err));
  }
  const magic = body.length >= 4 ? new DataView(body.buffer, body.byteOffset, 4).getUint32(0, false) : null;
  checks.push(
    magic === TPM_GENERATED_VALUE
      ? pass(`${p}.magic`, 'TPM_GENERATED_VALUE')
      : fail(`${p}.magic`, kind.codes.magic, `magic ${magic?.toString(16) ?? 'missing'}, expected ff544347`),
  );
  const type = body.length >= 6 ? (body[4]! << 8) | body[5]! : null;
  checks.push(
    type === kind.type
      ? pass(`${p}.type`, kind.typeName)
      : fail(
          `${p}.type`,
          kind.codes.type,
          `type ${type?.toString(16) ?? 'missing'}, expected ${kind.type.toString(16)}`,
        ),
  );
  if (attest === null) checks.push(skip(`${p}.nonce`, 'attestation did not parse'));
  else
    checks.push(
      bytesEqual(attest.extraData, expected)
        ? pass(`${p}.nonce`, kind.nonceDetail)
        : fail(
            `${p}.nonce`,
            kind.codes.nonce,
            `extraData ${toHex(attest.extraData)}, expected ${toHex(expected)}`,
          ),
    );
  return { attest, body, checks };
}

const KINDS: Record<number, SignatureKind> = {
  [TpmAlg.ECDSA]: 'ecdsa',
  [TpmAlg.RSASSA]: 'rsassa',
  [TpmAlg.RSAPSS]: 'rsapss',
};

/** r or s as a fixed-size big-endian integer, or null when it does not fit. */
function fixed(v: Uint8Array, size: number): Uint8Array | null {
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  if (v.length - i > size) return null;
  const out = new Uint8Array(size);
  out.set(v.subarray(i), size - (v.length - i));
  return out;
}

/**
 * `<prefix>.signature`: the TPMT_SIGNATURE verifies over `body` under the AK's key, in the AK's
 * scheme when its public area fixes one (a restricted key signs only with its own).
 */
export function akSignatureCheck(
  body: Uint8Array,
  sig: TpmSignature,
  key: PublicKey,
  ak: TpmPublic | null,
  kind: AttestedKind,
): Check {
  const name = `${kind.prefix}.signature`;
  if (ak !== null && ak.scheme.scheme !== TpmAlg.NULL) {
    if (ak.scheme.scheme !== sig.sigAlg || ak.scheme.hashAlg !== sig.hashAlg)
      return fail(
        name,
        kind.codes.scheme,
        `AK scheme 0x${ak.scheme.scheme.toString(16)}/${hashName(ak.scheme.hashAlg ?? 0)}, signature 0x${sig.sigAlg.toString(16)}/${sig.hash}`,
      );
  }
  let raw: Uint8Array | null;
  if (sig.sigAlg === TpmAlg.ECDSA) {
    const curve = ecCurve(key);
    const size = curve === 'P-256' ? 32 : curve === 'P-384' ? 48 : 0;
    const r = fixed(sig.r, size);
    const s = fixed(sig.s, size);
    raw = size === 0 || r === null || s === null ? null : new Uint8Array([...r, ...s]);
  } else raw = sig.sig;
  const alg = KINDS[sig.sigAlg];
  if (alg !== undefined && raw !== null && verifySignature(alg, key, sig.hash, body, raw))
    return pass(name, `${alg}/${sig.hash} signature by the AK verifies`);
  return fail(
    name,
    kind.codes.signature,
    `${alg ?? 'unknown'}/${sig.hash} signature does not verify under the AK`,
  );
}
