import { TpmDriverError } from './errors.ts';

// Raw TPM 2.0 commands the driver sends through `tpm2_send` (command on standard input, response
// on standard output) or its resident connection (wire.ts). Why: tpm2-tools 5.4's tpm2_certify takes no qualifying data, and
// tpm2_sign reads its digest and the key's authValue from files; a raw command carries both on
// standard input, so no secret is in argv and no file is written per signature (which a host's
// IMA would measure). Layouts: TPM 2.0 Part 1, 18 (command/response structure) and Part 3.

const TPM_ST_SESSIONS = 0x8002;
/** TPM_ST_NO_SESSIONS (Part 2, 6.9): a command or response with no authorization area. */
export const TPM_ST_NO_SESSIONS = 0x8001;
const TPM_RS_PW = 0x40000009;
const TPM_CC_CERTIFY = 0x00000148;
const TPM_CC_SIGN = 0x0000015d;
/** TPM_ALG_NULL (Part 2, 6.3). */
export const TPM_ALG_NULL = 0x0010;
const TPM_ST_HASHCHECK = 0x8024;
const TPM_RH_NULL = 0x40000007;

/** A UINT16, big-endian (TPM 2.0 Part 1, 18.1: every TPM integer is big-endian). */
export function u16(v: number): number[] {
  return [(v >> 8) & 255, v & 255];
}

/** A UINT32, big-endian. */
export function u32(v: number): number[] {
  return [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
}

/** A TPM2B: UINT16 size, then the bytes. */
export function tpm2b(b: Uint8Array): number[] {
  return [...u16(b.length), ...b];
}

/** TPMS_AUTH_COMMAND of a password session (Part 1, 19.8.4): TPM_RS_PW, no nonce, attributes 0, the password. */
function passwordAuth(auth: Uint8Array): number[] {
  return [...u32(TPM_RS_PW), ...u16(0), 0, ...tpm2b(auth)];
}

/** A command with password sessions (`auths`, one per handle that needs one), TPM_ST_SESSIONS. */
export function command(cc: number, handles: number[], auths: Uint8Array[], params: number[]): Uint8Array {
  const area = auths.flatMap(passwordAuth);
  const body = [...handles.flatMap(u32), ...u32(area.length), ...area, ...params];
  return new Uint8Array([...u16(TPM_ST_SESSIONS), ...u32(10 + body.length), ...u32(cc), ...body]);
}

/**
 * TPM2_Certify (Part 3, 18.2): `object` (authorised by `objectAuth`) certified by `signer` (an
 * AK with an empty authValue) over `qualifyingData`, in the signer's own scheme (inScheme NULL).
 */
export function certifyCommand(
  object: number,
  objectAuth: Uint8Array,
  signer: number,
  qualifyingData: Uint8Array,
): Uint8Array {
  return command(
    TPM_CC_CERTIFY,
    [object, signer],
    [objectAuth, new Uint8Array(0)],
    [...tpm2b(qualifyingData), ...u16(TPM_ALG_NULL)],
  );
}

/**
 * TPM2_Sign (Part 3, 20.2) of an external digest by an unrestricted key in its own scheme: the
 * validation ticket is the NULL ticket (TPM_ST_HASHCHECK, TPM_RH_NULL, empty), which only a
 * restricted key would refuse.
 */
export function signCommand(key: number, keyAuth: Uint8Array, digest: Uint8Array): Uint8Array {
  return command(
    TPM_CC_SIGN,
    [key],
    [keyAuth],
    [...tpm2b(digest), ...u16(TPM_ALG_NULL), ...u16(TPM_ST_HASHCHECK), ...u32(TPM_RH_NULL), ...u16(0)],
  );
}

/** The TPM's largest command or response (TPM_PT_MAX_COMMAND_SIZE / _RESPONSE_SIZE on swtpm and PC TPMs). */
export const TPM_MAX_RESPONSE = 4096;

function invalid(what: string, detail: string): TpmDriverError {
  return new TpmDriverError('TPM_RESPONSE_INVALID', `${what}: ${detail}`);
}

/**
 * The parameter area of a response (Part 1, 18.10): checks the header (tag, size field equal to
 * the bytes, at most TPM_MAX_RESPONSE) and the response code. A response to a command sent with
 * sessions (`sessions`, the default) carries a parameterSize that must lie inside it (the session
 * area follows); one sent without sessions has its parameters up to the end.
 * @throws TpmDriverError TPM_TOOL_FAILED naming the TPM's response code; TPM_RESPONSE_INVALID
 *   when the bytes are not a TPM response (short, size field wrong, parameters past the end)
 */
export function responseParameters(res: Uint8Array, what: string, sessions = true): Uint8Array {
  const v = new DataView(res.buffer, res.byteOffset, res.byteLength);
  if (res.length < 10 || res.length > TPM_MAX_RESPONSE || v.getUint32(2, false) !== res.length)
    throw invalid(what, `a response of ${res.length} bytes is not a TPM response`);
  const tag = v.getUint16(0, false); // attacker-controlled, as everything below
  if (tag !== TPM_ST_SESSIONS && tag !== TPM_ST_NO_SESSIONS) throw invalid(what, `tag 0x${tag.toString(16)}`);
  const rc = v.getUint32(6, false);
  if (rc !== 0)
    throw new TpmDriverError(
      'TPM_TOOL_FAILED',
      `${what}: the TPM answered 0x${rc.toString(16).padStart(3, '0')}`,
    );
  if (!sessions) {
    if (tag !== TPM_ST_NO_SESSIONS) throw invalid(what, 'a session area in a response without sessions');
    return res.subarray(10);
  }
  if (tag !== TPM_ST_SESSIONS || res.length < 14) throw invalid(what, 'a response without a parameter area');
  const size = v.getUint32(10, false);
  if (14 + size > res.length) throw invalid(what, `parameter size ${size} past the response`);
  return res.subarray(14, 14 + size);
}

/** TPM2_Certify's parameters: TPM2B_ATTEST then TPMT_SIGNATURE. Returns the TPMS_ATTEST and signature bytes. */
export function certifyResponse(res: Uint8Array): { attest: Uint8Array; signature: Uint8Array } {
  const p = responseParameters(res, 'TPM2_Certify');
  const size = p.length >= 2 ? (p[0]! << 8) | p[1]! : -1;
  if (size < 0 || 2 + size > p.length) throw invalid('TPM2_Certify', 'certifyInfo past the parameters');
  return { attest: p.slice(2, 2 + size), signature: p.slice(2 + size) };
}

/** TPM2_Sign's parameter: the TPMT_SIGNATURE bytes. */
export function signResponse(res: Uint8Array): Uint8Array {
  return responseParameters(res, 'TPM2_Sign').slice();
}
