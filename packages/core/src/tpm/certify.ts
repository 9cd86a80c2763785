import type { KeyObject } from 'node:crypto';
import { bytesEqual, toHex, utf8 } from '../bytes/encoding.ts';
import { sha256 } from '../crypto/hash.ts';
import { verifySignature } from '../crypto/keys.ts';
import { CoreError, type CoreErrorCode } from '../errors.ts';
import type { Check } from '../verdict/types.ts';
import { akAttributeProblem, publicKeyOf } from './akey.ts';
import { TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY, TpmAlg, TpmCurve } from './alg.ts';
import { type Attest, attestBody, parseAttest } from './attest.ts';
import { ObjectAttr, parseTpm2bPublic, type TpmPublic, tpmName } from './public.ts';
import { parseSignature, type TpmSignature } from './signature.ts';

// TPM2_Certify (TPM 2.0 Part 3, 18.2) of the agent's checkpoint key by its AK: docs/evidence.md,
// "The checkpoint key".

/** The label in a checkpoint key's qualifying data (version 1 of that binding). */
export const CHECKPOINT_KEY_LABEL = 'tmb.checkpoint-key.v1\n';

/**
 * The qualifying data of a checkpoint key's TPM2_Certify: SHA-256(verifier nonce ‖
 * "tmb.checkpoint-key.v1\n" ‖ agent ‖ "\n" ‖ receiptKeyId), where receiptKeyId is the key id a
 * receipt names (hex SHA-256 of the raw Ed25519 receipt key, core agentKeyId).
 * Change rule: a new binding gets a new label; verifiers keep accepting v1 until every agent moved.
 */
export function checkpointKeyQualifying(nonce: Uint8Array, agent: string, receiptKeyId: string): Uint8Array {
  return sha256(nonce, utf8(CHECKPOINT_KEY_LABEL), utf8(agent), utf8('\n'), utf8(receiptKeyId));
}

/** What verifyCertify checks. Every byte field is untrusted evidence. */
export interface CertifyInput {
  /** The certified key: TPM2B_PUBLIC bytes (`tpm2_readpublic -o` layout). */
  keyPublic: Uint8Array;
  /** The TPMS_ATTEST (or TPM2B_ATTEST) TPM2_Certify returned. */
  certifyInfo: Uint8Array;
  /** The AK's TPMT_SIGNATURE over certifyInfo. */
  signature: Uint8Array;
  /** The activated AK: TPM2B_PUBLIC bytes or parsed. */
  akPublic: Uint8Array | TpmPublic;
  /** The qualifying data the verifier expects (checkpointKeyQualifying with the nonce it issued). */
  expectedQualifyingData: Uint8Array;
  /**
   * The TPM resetCount of the agent's current quotes. Left out (no quote accepted yet), the
   * check is skipped: the certification still proves the key is in the AK's TPM now.
   */
  resetCount?: number;
}

/** verifyCertify's answer: `ok` when no check failed; the certified key when it parsed. */
export interface CertifyResult {
  ok: boolean;
  checks: Check[];
  key: TpmPublic | null;
  attest: Attest | null;
}

const pass = (name: string, detail: string): Check => ({ name, status: 'pass', detail });
const fail = (name: string, code: CoreErrorCode, detail: string): Check => ({
  name,
  status: 'fail',
  code,
  detail,
});
const skip = (name: string, detail: string): Check => ({ name, status: 'skipped', detail });

function errorCheck(name: string, err: unknown): Check {
  if (err instanceof CoreError) return fail(name, err.code, err.message);
  throw err;
}

/** Attributes a checkpoint key must have, and must not (TPM 2.0 Part 2, 8.3.2 TPMA_OBJECT). */
const KEY_REQUIRED =
  ObjectAttr.fixedTPM |
  ObjectAttr.fixedParent |
  ObjectAttr.sensitiveDataOrigin |
  ObjectAttr.userWithAuth |
  ObjectAttr.sign;
const KEY_FORBIDDEN = ObjectAttr.decrypt | ObjectAttr.restricted;

/**
 * What is wrong with a public area as a checkpoint key: a signing key (not decrypt, not
 * restricted) that never left its TPM (fixedTPM, fixedParent, sensitiveDataOrigin: created
 * inside it and not duplicable), used with its authValue (userWithAuth). Null when it qualifies.
 */
export function checkpointKeyAttributeProblem(key: TpmPublic): string | null {
  const names = (mask: number, set: boolean) =>
    Object.entries(ObjectAttr)
      .filter(([, bit]) => (mask & bit) !== 0 && ((key.attributes & bit) !== 0) === set)
      .map(([n]) => n);
  const missing = names(KEY_REQUIRED, false);
  if (missing.length > 0) return `objectAttributes lack ${missing.join(', ')}`;
  const extra = names(KEY_FORBIDDEN, true);
  if (extra.length > 0) return `objectAttributes have ${extra.join(', ')}`;
  return null;
}

/** What is wrong with a checkpoint key's algorithm: it must be ECC P-256, ECDSA/SHA-256, nameAlg SHA-256. */
export function checkpointKeyAlgProblem(key: TpmPublic): string | null {
  if (key.type !== 'ecc') return `a ${key.type.toUpperCase()} key, expected ECC P-256`;
  if (key.curve !== TpmCurve.NIST_P256) return `curve 0x${key.curve.toString(16)}, expected NIST P-256`;
  if (key.scheme.scheme !== TpmAlg.ECDSA || key.scheme.hashAlg !== TpmAlg.SHA256)
    return `scheme 0x${key.scheme.scheme.toString(16)}, expected ECDSA with SHA-256`;
  if (key.nameAlg !== TpmAlg.SHA256) return `nameAlg 0x${key.nameAlg.toString(16)}, expected SHA-256`;
  return null;
}

/** r or s as a fixed-size big-endian integer, or null when it does not fit. */
function fixed(v: Uint8Array, size: number): Uint8Array | null {
  let i = 0;
  while (i < v.length && v[i] === 0) i++;
  if (v.length - i > size) return null;
  const out = new Uint8Array(size);
  out.set(v.subarray(i), size - (v.length - i));
  return out;
}

/** Whether a TPMT_SIGNATURE verifies over `body` under `key`, in `ak`'s scheme when it fixes one. */
function signatureCheck(
  name: string,
  body: Uint8Array,
  sig: TpmSignature,
  key: KeyObject,
  ak: TpmPublic,
): Check {
  if (
    ak.scheme.scheme !== TpmAlg.NULL &&
    (ak.scheme.scheme !== sig.sigAlg || ak.scheme.hashAlg !== sig.hashAlg)
  )
    return fail(
      name,
      'CERTIFY_SIGNATURE_INVALID',
      `signature 0x${sig.sigAlg.toString(16)}/${sig.hash} is not the AK's scheme`,
    );
  let ok: boolean;
  if (sig.sigAlg === TpmAlg.ECDSA) {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const size = curve === 'prime256v1' ? 32 : curve === 'secp384r1' ? 48 : 0;
    const r = fixed(sig.r, size);
    const s = fixed(sig.s, size);
    ok =
      size !== 0 &&
      r !== null &&
      s !== null &&
      verifySignature('ecdsa', key, sig.hash, body, new Uint8Array([...r, ...s]));
  } else
    ok = verifySignature(sig.sigAlg === TpmAlg.RSASSA ? 'rsassa' : 'rsapss', key, sig.hash, body, sig.sig);
  return ok
    ? pass(name, `signed by the AK (${sig.hash})`)
    : fail(name, 'CERTIFY_SIGNATURE_INVALID', 'the signature does not verify under the AK');
}

/**
 * Verifies a TPM2_Certify of a checkpoint key by an AK: the AK (a restricted signing key fixed
 * to its TPM), the key (parses; attributes fixedTPM, fixedParent, sensitiveDataOrigin,
 * userWithAuth, sign and not decrypt or restricted; ECC P-256 with ECDSA/SHA-256), the
 * attestation's magic and type (TPM_ST_ATTEST_CERTIFY), its extraData (the expected qualifying
 * data), that the certified name is the key's name computed here, the AK's signature, and the
 * resetCount against the agent's current quotes. Never throws for bad evidence: each failure is
 * a named check with its code (docs/errors.md); `ok` only when none failed.
 *
 * @example
 *   const q = checkpointKeyQualifying(nonce, agent, receiptKeyId);
 *   const r = verifyCertify({ keyPublic, certifyInfo, signature, akPublic, expectedQualifyingData: q });
 */
export function verifyCertify(input: CertifyInput): CertifyResult {
  const checks: Check[] = [];
  let ak: TpmPublic | null = null;
  let akKey: KeyObject | null = null;
  try {
    ak = input.akPublic instanceof Uint8Array ? parseTpm2bPublic(input.akPublic) : input.akPublic;
    akKey = publicKeyOf(ak);
    const problem = akAttributeProblem(ak);
    checks.push(
      problem === null
        ? pass('tpm.certify.ak', 'AK is a restricted signing key fixed to its TPM')
        : fail('tpm.certify.ak', 'AK_ATTRIBUTES_INVALID', problem),
    );
  } catch (err) {
    ak = null;
    checks.push(errorCheck('tpm.certify.ak', err));
  }
  let key: TpmPublic | null = null;
  try {
    key = parseTpm2bPublic(input.keyPublic);
    publicKeyOf(key); // the point must be on its curve
    checks.push(pass('tpm.certify.key', `${key.type.toUpperCase()} key public area parsed`));
  } catch (err) {
    key = null;
    checks.push(errorCheck('tpm.certify.key', err));
  }
  if (key === null) {
    checks.push(skip('tpm.certify.key_attributes', 'no key'), skip('tpm.certify.key_alg', 'no key'));
  } else {
    const attrs = checkpointKeyAttributeProblem(key);
    checks.push(
      attrs === null
        ? pass('tpm.certify.key_attributes', 'a signing key created in and fixed to its TPM')
        : fail('tpm.certify.key_attributes', 'CERTIFY_KEY_ATTRIBUTES_INVALID', attrs),
    );
    const alg = checkpointKeyAlgProblem(key);
    checks.push(
      alg === null
        ? pass('tpm.certify.key_alg', 'ECC P-256, ECDSA with SHA-256')
        : fail('tpm.certify.key_alg', 'CERTIFY_KEY_ALG_INVALID', alg),
    );
  }

  const body = attestBody(input.certifyInfo);
  let attest: Attest | null = null;
  try {
    attest = parseAttest(input.certifyInfo);
    checks.push(pass('tpm.certify.format', 'TPMS_ATTEST parsed'));
  } catch (err) {
    checks.push(errorCheck('tpm.certify.format', err));
  }
  const magic = body.length >= 4 ? new DataView(body.buffer, body.byteOffset, 4).getUint32(0, false) : null;
  checks.push(
    magic === TPM_GENERATED_VALUE
      ? pass('tpm.certify.magic', 'TPM_GENERATED_VALUE')
      : fail(
          'tpm.certify.magic',
          'CERTIFY_MAGIC_INVALID',
          `magic ${magic?.toString(16) ?? 'missing'}, expected ff544347`,
        ),
  );
  const type = body.length >= 6 ? (body[4]! << 8) | body[5]! : null;
  checks.push(
    type === TPM_ST_ATTEST_CERTIFY
      ? pass('tpm.certify.type', 'TPM_ST_ATTEST_CERTIFY')
      : fail(
          'tpm.certify.type',
          'CERTIFY_TYPE_INVALID',
          `type ${type?.toString(16) ?? 'missing'}, expected 8017`,
        ),
  );
  if (attest === null) checks.push(skip('tpm.certify.nonce', 'attestation did not parse'));
  else
    checks.push(
      bytesEqual(attest.extraData, input.expectedQualifyingData)
        ? pass('tpm.certify.nonce', 'qualifying data binds the verifier nonce, agent and receipt key')
        : fail(
            'tpm.certify.nonce',
            'CERTIFY_NONCE_MISMATCH',
            `extraData ${toHex(attest.extraData)}, expected ${toHex(input.expectedQualifyingData)}`,
          ),
    );
  if (attest?.certify == null || key === null)
    checks.push(skip('tpm.certify.name', 'no certified name or no key to compare'));
  else {
    const name = tpmName(key);
    checks.push(
      bytesEqual(attest.certify.name, name)
        ? pass('tpm.certify.name', `certified name ${toHex(name).slice(0, 20)}… is the key's`)
        : fail(
            'tpm.certify.name',
            'CERTIFY_NAME_MISMATCH',
            `certified name ${toHex(attest.certify.name)}, the key's ${toHex(name)}`,
          ),
    );
  }
  let sig: TpmSignature | null = null;
  try {
    sig = parseSignature(input.signature);
  } catch (err) {
    checks.push(errorCheck('tpm.certify.signature', err));
  }
  if (sig !== null) {
    if (ak === null || akKey === null) checks.push(skip('tpm.certify.signature', 'no usable AK'));
    else checks.push(signatureCheck('tpm.certify.signature', body, sig, akKey, ak));
  }
  if (attest === null) checks.push(skip('tpm.certify.reset', 'attestation did not parse'));
  else if (input.resetCount === undefined)
    checks.push(skip('tpm.certify.reset', 'no quote of this agent to compare resetCount with'));
  else
    checks.push(
      attest.clockInfo.resetCount === input.resetCount
        ? pass('tpm.certify.reset', `resetCount ${input.resetCount}, as the agent's quotes`)
        : fail(
            'tpm.certify.reset',
            'CERTIFY_RESET_COUNT_MISMATCH',
            `resetCount ${attest.clockInfo.resetCount}, the agent's quotes ${input.resetCount}`,
          ),
    );
  return { ok: checks.every((c) => c.status !== 'fail'), checks, key, attest };
}
