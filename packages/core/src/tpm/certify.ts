import { bytesEqual, toHex, utf8 } from '../bytes/encoding.ts';
import { sha256 } from '../crypto/hash.ts';
import type { PublicKey } from '../crypto/keys.ts';
import type { Check } from '../verdict/types.ts';
import { akAttributeProblem, publicKeyOf } from './akey.ts';
import { TPM_ST_ATTEST_CERTIFY, TpmAlg, TpmCurve } from './alg.ts';
import type { Attest } from './attest.ts';
import {
  type AttestedKind,
  akSignatureCheck,
  attestHeaderChecks,
  errorCheck,
  fail,
  pass,
  skip,
} from './attested.ts';
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

const CERTIFY: AttestedKind = {
  prefix: 'tpm.certify',
  type: TPM_ST_ATTEST_CERTIFY,
  typeName: 'TPM_ST_ATTEST_CERTIFY',
  codes: {
    magic: 'CERTIFY_MAGIC_INVALID',
    type: 'CERTIFY_TYPE_INVALID',
    nonce: 'CERTIFY_NONCE_MISMATCH',
    scheme: 'CERTIFY_SIGNATURE_INVALID',
    signature: 'CERTIFY_SIGNATURE_INVALID',
  },
  nonceDetail: 'qualifying data binds the verifier nonce, agent and receipt key',
};

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
  let akKey: PublicKey | null = null;
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

  const header = attestHeaderChecks(input.certifyInfo, input.expectedQualifyingData, CERTIFY);
  const { attest, body } = header;
  checks.push(...header.checks);
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
    else checks.push(akSignatureCheck(body, sig, akKey, ak, CERTIFY));
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
