import {
  base64Of,
  decodeText,
  keylimeKeyId,
  type PolicyKey,
  type PolicySigningKey,
  policyKey,
  policySign,
  policyVerify,
} from '#platform/dsse.ts';
import { CoreError } from '../errors.ts';

// DSSE envelopes (github.com/secure-systems-lab/dsse, protocol.md) as `keylime_policy sign
// runtime` writes them around a runtime policy (keylime/policy/sign_runtime_policy.py,
// keylime/dsse/): {"payload": base64, "payloadType": "application/vnd.keylime+json",
// "signatures": [{"keyid": ..., "sig": base64 DER ECDSA}]}, each signature ECDSA with SHA-256
// over PAE(payloadType, payload). The ecdsa backend's keyid is the SHA-256 (hex) of the public
// key's SubjectPublicKeyInfo PEM; the x509 backend's is the base64 of a self-signed
// certificate's PEM, which proves nothing by itself: tmb verifies only against a key (or
// certificate) the user gives.

/** The payload type Keylime signs runtime policies under. */
export const KEYLIME_POLICY_PAYLOAD_TYPE = 'application/vnd.keylime+json';

/** A DSSE envelope (signatures' `sig` base64). */
export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: { keyid?: string; sig: string }[];
}

/** What opening an envelope found. */
export interface OpenedEnvelope {
  payload: Uint8Array;
  /** The keyid of the signature that verified; null when none was checked (`unsignedOk`). */
  keyid: string | null;
  verified: boolean;
}

/** How to open a signed policy. */
export interface EnvelopeOptions {
  /**
   * PEM public key (SubjectPublicKeyInfo) or X.509 certificate whose key must have signed the
   * envelope (an EC key: Keylime signs with ECDSA). Left out: the envelope is refused with
   * IMA_POLICY_KEY_REQUIRED unless `unsignedOk`, because a verifier must not silently ignore
   * a signature it cannot check.
   */
  key?: string | PolicyKey;
  /** Use the payload of a signed policy without checking its signature. Default false. */
  unsignedOk?: boolean;
}

const MAX_SIGNATURES = 16;

/** True when a parsed policy document is a DSSE envelope (Keylime's test: it has `payload`). */
export function isEnvelope(v: Record<string, unknown>): boolean {
  return 'payload' in v || ('signatures' in v && 'payloadType' in v);
}

/** DSSE's pre-authentication encoding: "DSSEv1 <len> <type> <len> <payload>". */
export function pae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = new TextEncoder().encode(payloadType);
  const head = new TextEncoder().encode(`DSSEv1 ${type.length} `);
  const mid = new TextEncoder().encode(` ${payload.length} `);
  const out = new Uint8Array(head.length + type.length + mid.length + payload.length);
  out.set(head, 0);
  out.set(type, head.length);
  out.set(mid, head.length + type.length);
  out.set(payload, head.length + type.length + mid.length);
  return out;
}

/** Keylime's keyid of an EC public key: SHA-256 (hex) of its SubjectPublicKeyInfo PEM. */
export { keylimeKeyId } from '#platform/dsse.ts';

/**
 * Signs `payload` into an envelope as `keylime_policy sign runtime --backend ecdsa` does
 * (ECDSA with SHA-256, DER signature, keyid = keylimeKeyId). For tests and `tmb policy sign`.
 */
export function signEnvelope(
  payload: Uint8Array,
  privateKey: PolicySigningKey,
  payloadType = KEYLIME_POLICY_PAYLOAD_TYPE,
): DsseEnvelope {
  const { sig, keyid } = policySign(pae(payloadType, payload), privateKey);
  return { payload: base64Of(payload), payloadType, signatures: [{ keyid, sig: base64Of(sig) }] };
}

/**
 * Checks a DSSE envelope and returns its payload: one of its signatures must verify with
 * `options.key` over PAE(payloadType, payload), and the payload type must be Keylime's.
 * @throws CoreError IMA_POLICY_ENVELOPE_INVALID (not an envelope of that shape),
 *   IMA_POLICY_KEY_INVALID (the key is not an EC public key or certificate),
 *   IMA_POLICY_KEY_REQUIRED (no key and not unsignedOk),
 *   IMA_POLICY_SIGNATURE_INVALID (no signature verifies with the key)
 */
export function openEnvelope(v: Record<string, unknown>, options: EnvelopeOptions = {}): OpenedEnvelope {
  const bad = (why: string): never => {
    throw new CoreError('IMA_POLICY_ENVELOPE_INVALID', `signed runtime policy (DSSE envelope): ${why}`);
  };
  if (typeof v.payload !== 'string' || v.payload === '') bad('payload is not a non-empty string');
  if (typeof v.payloadType !== 'string') bad('payloadType is not a string');
  if (v.payloadType !== KEYLIME_POLICY_PAYLOAD_TYPE)
    bad(
      `payloadType is ${JSON.stringify(v.payloadType)}, expected ${JSON.stringify(KEYLIME_POLICY_PAYLOAD_TYPE)}`,
    );
  const sigs = v.signatures;
  if (!Array.isArray(sigs) || sigs.length === 0) bad('signatures is not a non-empty array');
  if ((sigs as unknown[]).length > MAX_SIGNATURES) bad(`more than ${MAX_SIGNATURES} signatures`);
  const parsed = (sigs as unknown[]).map((s, i) => {
    if (typeof s !== 'object' || s === null || typeof (s as { sig?: unknown }).sig !== 'string')
      bad(`signatures[${i}] has no sig string`);
    const keyid = (s as { keyid?: unknown }).keyid;
    const sig = b64dec((s as { sig: string }).sig);
    if (sig === null) bad(`signatures[${i}].sig is neither base64 nor hex`);
    return { keyid: typeof keyid === 'string' ? keyid : null, sig: sig! };
  });
  const payload = b64dec(v.payload as string);
  if (payload === null) bad('payload is neither base64 nor hex');
  if (options.key === undefined) {
    if (options.unsignedOk === true) return { payload: payload!, keyid: null, verified: false };
    const ids = parsed.map((s) => s.keyid ?? '(none)').join(', ');
    throw new CoreError(
      'IMA_POLICY_KEY_REQUIRED',
      `runtime policy is signed (DSSE envelope, keylime_policy sign runtime; keyid ${shortId(ids)}): give the signer's public key or certificate to verify it (--policy-key FILE), or accept it unverified explicitly (--unsigned-ok)`,
    );
  }
  const key = policyKey(options.key);
  const message = pae(v.payloadType as string, payload!);
  for (const s of parsed) {
    if (policyVerify(key, message, s.sig)) return { payload: payload!, keyid: s.keyid, verified: true };
  }
  throw new CoreError(
    'IMA_POLICY_SIGNATURE_INVALID',
    `runtime policy's DSSE signature does not verify with the given key (keyid ${keylimeKeyId(key)}; the envelope names ${shortId(parsed.map((s) => s.keyid ?? '(none)').join(', '))})`,
  );
}

function shortId(ids: string): string {
  return ids.length > 100 ? `${ids.slice(0, 100)}...` : ids;
}

/**
 * Keylime's b64dec (keylime/dsse/dsse.py): hex when the text is hex, else strict base64, else
 * URL-safe base64. Null when none fits.
 */
function b64dec(s: string): Uint8Array | null {
  if (s.length > 0 && s.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(s)) return decodeText(s, 'hex');
  if (s.length % 4 === 0) {
    if (/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return decodeText(s, 'base64');
    if (/^[A-Za-z0-9_-]*={0,2}$/.test(s)) return decodeText(s, 'base64url');
  }
  return null;
}
