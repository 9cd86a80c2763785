import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TpmDriverError } from '../../src/tpm/errors.ts';
import {
  certifyCommand,
  certifyResponse,
  responseParameters,
  signCommand,
  signResponse,
} from '../../src/tpm/raw.ts';
import { tpmResponse } from './responses.ts';

// The raw TPM2_Certify / TPM2_Sign the driver sends through tpm2_send (TPM 2.0 Part 1, 18; Part 3,
// 18.2 and 20.2), and the parsing of what comes back (bytes from the TPM: untrusted).

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('TPM2_Sign: header, key handle, one password session, digest, NULL scheme and NULL ticket', () => {
  const cmd = signCommand(0x81000a4c, new TextEncoder().encode('pw'), new Uint8Array(32).fill(0xab));
  assert.equal(
    hex(cmd),
    [
      '8002', // TPM_ST_SESSIONS
      cmd.length.toString(16).padStart(8, '0'),
      '0000015d', // TPM_CC_Sign
      '81000a4c',
      '0000000b', // authorization size: 4 + 2 + 1 + 2 + 2
      '40000009',
      '0000',
      '00',
      '0002',
      '7077', // TPM_RS_PW, no nonce, attributes 0, "pw"
      '0020',
      'ab'.repeat(32),
      '0010', // inScheme TPM_ALG_NULL: the key's own
      '8024',
      '40000007',
      '0000', // TPMT_TK_HASHCHECK: TPM_ST_HASHCHECK, TPM_RH_NULL, empty
    ].join(''),
  );
});

test('TPM2_Certify: object then AK handle, two password sessions (the AK with an empty one)', () => {
  const cmd = certifyCommand(0x81000a4c, new Uint8Array([1, 2]), 0x81000a4b, new Uint8Array([9]));
  const h = hex(cmd);
  assert.equal(h.slice(12, 20), '00000148');
  assert.equal(h.slice(20, 36), '81000a4c81000a4b');
  assert.equal(h.slice(36, 44), '00000014'); // 11 (2-byte password) + 9 (empty)
  assert.ok(h.endsWith('0001090010'));
});

const response = tpmResponse;

test('responses: a TPM error names its code; a short, cut or oversized response is refused', () => {
  assert.throws(() => responseParameters(response(0x9a2, []), 'TPM2_Sign'), /0x9a2/);
  assert.throws(() => responseParameters(new Uint8Array(5), 'x'), TpmDriverError);
  const ok = response(0, [0, 2, 7, 7, 0, 0x18]);
  assert.deepEqual([...certifyResponse(ok).attest], [7, 7]);
  assert.deepEqual([...certifyResponse(ok).signature], [0, 0x18]);
  assert.deepEqual([...signResponse(response(0, [1, 2, 3]))], [1, 2, 3]);
  const cut = ok.slice(0, ok.length - 1);
  assert.throws(() => responseParameters(cut, 'x'), TpmDriverError);
  assert.throws(() => certifyResponse(response(0, [0, 9, 1])), /certifyInfo past/);
  assert.throws(() => responseParameters(response(0, [1], 0x8001), 'x'), /without a parameter area/);
});

test('property: any response bytes give parameters or a TpmDriverError, nothing else', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      for (const f of [(x: Uint8Array) => certifyResponse(x), (x: Uint8Array) => signResponse(x)])
        try {
          f(b);
        } catch (err) {
          assert.ok(err instanceof TpmDriverError, String(err));
        }
    }),
    { numRuns: 2000 },
  );
});
