import { Cursor } from '@tmb/core';
import { KernelSimError } from './errors.ts';

// The two TPM 2.0 commands the simulated kernel sends itself, encoded by hand (no TSS binding in
// Node, and tpm2-tools cannot share the one swtpm connection the kernel holds). Big-endian, as
// every TPM structure (TPM 2.0 Part 1, 18.2 "Command/Response Header Fields").

const TPM_ST_NO_SESSIONS = 0x8001;
const TPM_ST_SESSIONS = 0x8002;
const TPM_CC_PCR_EXTEND = 0x0182;
const TPM_CC_PCR_READ = 0x017e;
const TPM_RS_PW = 0x40000009;
const TPM_ALG_SHA256 = 0x000b;

/** The largest command or response either side of the proxy accepts (swtpm's buffer is 4 KiB). */
export const TPM_MAX_MESSAGE = 64 * 1024;

/** The size field of a command or response header (tag u16, size u32), or -1 when under 6 bytes. */
export function messageSize(bytes: Uint8Array): number {
  if (bytes.length < 6) return -1;
  return new DataView(bytes.buffer, bytes.byteOffset, 6).getUint32(2, false);
}

/**
 * TPM2_PCR_Extend of one sha256 digest into `pcr` (TPM 2.0 Part 3, 22.2): TPM_ST_SESSIONS,
 * handle area = pcrHandle, one password session (TPM_RS_PW, empty nonce, attributes 0, empty
 * hmac: the PCR's authValue is empty, Part 1, 19.6.4), then TPML_DIGEST_VALUES with one entry.
 */
export function encodePcrExtend(pcr: number, sha256: Uint8Array): Uint8Array {
  if (sha256.length !== 32) throw new RangeError('a sha256 digest is 32 bytes');
  const out = new Uint8Array(10 + 4 + 4 + 9 + 4 + 2 + 32);
  const v = new DataView(out.buffer);
  v.setUint16(0, TPM_ST_SESSIONS);
  v.setUint32(2, out.length);
  v.setUint32(6, TPM_CC_PCR_EXTEND);
  v.setUint32(10, pcr);
  v.setUint32(14, 9); // authorizationSize: the session below
  v.setUint32(18, TPM_RS_PW); // sessionHandle; nonceCaller u16 0 at 22; attributes u8 0 at 24; hmac u16 0 at 25
  v.setUint32(27, 1); // TPML_DIGEST_VALUES.count
  v.setUint16(31, TPM_ALG_SHA256);
  out.set(sha256, 33);
  return out;
}

/** TPM2_PCR_Read of sha256 PCRs (TPM 2.0 Part 3, 22.4): one TPMS_PCR_SELECTION, 3-byte bitmap. */
export function encodePcrRead(pcrs: readonly number[]): Uint8Array {
  const out = new Uint8Array(10 + 4 + 2 + 1 + 3);
  const v = new DataView(out.buffer);
  v.setUint16(0, TPM_ST_NO_SESSIONS);
  v.setUint32(2, out.length);
  v.setUint32(6, TPM_CC_PCR_READ);
  v.setUint32(10, 1); // TPML_PCR_SELECTION.count
  v.setUint16(14, TPM_ALG_SHA256);
  out[16] = 3; // sizeofSelect: PCRs 0-23
  for (const p of pcrs) out[17 + (p >> 3)]! |= 1 << (p & 7);
  return out;
}

/** The response code of a response (TPM 2.0 Part 1, 18.2); throws when it is not TPM_RC_SUCCESS. */
export function checkResponse(res: Uint8Array, command: string): void {
  if (res.length < 10)
    throw new KernelSimError('SIMKERNEL_TPM_FAILED', `${command}: a ${res.length}-byte response`);
  const rc = new DataView(res.buffer, res.byteOffset, 10).getUint32(6, false);
  if (rc !== 0) throw new KernelSimError('SIMKERNEL_TPM_FAILED', `${command}: TPM rc 0x${rc.toString(16)}`);
}

/**
 * The PCRs a TPM2_PCR_Read response returned, by index (TPM 2.0 Part 3, 22.4.2: pcrUpdateCounter,
 * pcrSelectionOut, pcrValues). A TPM returns at most 8 digests per call: read again for the rest.
 */
export function decodePcrRead(res: Uint8Array): Map<number, Uint8Array> {
  checkResponse(res, 'TPM2_PCR_Read');
  const c = new Cursor(res, 'TPM2_PCR_Read response', 10);
  c.u32be('pcrUpdateCounter');
  const selected: number[] = [];
  const count = c.u32be('pcrSelectionOut.count');
  for (let i = 0; i < count; i++) {
    const alg = c.u16be('hash');
    const bitmap = c.sized(c.u8('sizeofSelect'), 4, 'pcrSelect');
    if (alg !== TPM_ALG_SHA256) continue;
    for (let b = 0; b < bitmap.length * 8; b++) if ((bitmap[b >> 3]! >> (b & 7)) & 1) selected.push(b);
  }
  const n = c.u32be('pcrValues.count');
  if (n !== selected.length) throw new KernelSimError('SIMKERNEL_TPM_FAILED', 'TPM2_PCR_Read: digest count');
  const out = new Map<number, Uint8Array>();
  for (const p of selected) out.set(p, c.sized(c.u16be('digest.size'), 32, 'digest'));
  c.end();
  return out;
}
