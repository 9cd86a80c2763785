import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parsePcrsFile } from '@tmb/core/tpm';
import fc from 'fast-check';
import { TpmDriverError } from '../../src/tpm/errors.ts';
import {
  pcrExtendCommand,
  pcrExtendResponse,
  pcrReadCommand,
  pcrReadResponse,
  quoteCommand,
  quoteResponse,
} from '../../src/tpm/pcrcmd.ts';
import { certifyResponse, signResponse } from '../../src/tpm/raw.ts';
import { pcrreadValues, pcrsFile } from '../../src/tpm/wireops.ts';
import { tpmResponse } from './responses.ts';

// The hot commands the driver marshals for its resident connection (TPM 2.0 Part 3, 18.4, 22.2,
// 22.4), and the parsers of what the TPM answers: untrusted bytes, so any bytes give a
// TpmDriverError with a code, never another exception.

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const VECTORS = new URL('../../../core/test/vectors/tpm/', import.meta.url);

const response = tpmResponse;

test('TPM2_Quote: AK handle, one empty password session, qualifying data, NULL scheme, sizeofSelect 3', () => {
  const cmd = quoteCommand(0x81000a4b, new Uint8Array([0xaa, 0xbb]), [
    { hashAlg: 0x000b, pcrs: [0, 10, 16] },
  ]);
  assert.equal(
    hex(cmd),
    [
      '8002',
      cmd.length.toString(16).padStart(8, '0'),
      '00000158', // TPM_CC_Quote
      '81000a4b',
      '00000009', // TPM_RS_PW, empty nonce, attributes 0, empty password
      '40000009000000' + '0000',
      '0002aabb', // qualifyingData
      '0010', // inScheme TPM_ALG_NULL
      '00000001000b03' + '010401', // one bank, sha256, PCRs 0, 10, 16
    ].join(''),
  );
  assert.throws(() => quoteCommand(1, new Uint8Array(0), [{ hashAlg: 0x000b, pcrs: [24] }]), RangeError);
});

test('TPM2_PCR_Read without sessions, TPM2_PCR_Extend with an empty password on the PCR handle', () => {
  assert.equal(
    hex(pcrReadCommand([{ hashAlg: 0x000b, pcrs: [16] }])),
    '80010000001400000' + '17e00000001000b03000001',
  );
  const ext = pcrExtendCommand(10, new Uint8Array(32).fill(1));
  assert.equal(hex(ext.subarray(6, 14)), '000001820000000a');
  assert.ok(hex(ext).endsWith(`00000001000b${'01'.repeat(32)}`));
  assert.throws(() => pcrExtendCommand(10, new Uint8Array(20)), RangeError);
});

test('the PCR values file made from PCR_Read answers is the committed tpm2_quote -o file, byte for byte', () => {
  for (const kind of ['ecc256', 'rsassa']) {
    const file = new Uint8Array(readFileSync(new URL(`${kind}/quote1.pcrs`, VECTORS)));
    const v = parsePcrsFile(file);
    const banks = v.selection.map((b) => ({ hashAlg: b.hashAlg, pcrs: b.pcrs }));
    assert.deepEqual(Buffer.from(pcrsFile(banks, [v.digests])), Buffer.from(file), kind);
  }
});

test('PCR_Read response: parsed; negative vectors each give TPM_RESPONSE_INVALID or the TPM code', () => {
  const d = new Array(32).fill(7);
  const good = [0, 0, 0, 5, 0, 0, 0, 1, 0, 0x0b, 3, 0, 0, 1, 0, 0, 0, 1, 0, 32, ...d];
  const out = pcrReadResponse(response(0, good, 0x8001));
  assert.deepEqual(out.selection, [{ hashAlg: 0x0b, pcrs: [16] }]);
  assert.deepEqual([...out.digests[0]!], d);
  const code = (bytes: Uint8Array) => {
    try {
      pcrReadResponse(bytes);
    } catch (err) {
      assert.ok(err instanceof TpmDriverError, String(err));
      return err.code;
    }
    return 'parsed';
  };
  assert.equal(code(response(0x18b, [], 0x8001)), 'TPM_TOOL_FAILED'); // TPM_RC_HANDLE
  assert.equal(code(new Uint8Array([0x80, 1, 0, 0])), 'TPM_RESPONSE_INVALID'); // short
  const wrongSize = response(0, good, 0x8001);
  wrongSize[5]! += 1;
  assert.equal(code(wrongSize), 'TPM_RESPONSE_INVALID'); // size field not the bytes
  assert.equal(code(response(0, good.slice(0, -1), 0x8001)), 'TPM_RESPONSE_INVALID'); // digest cut
  assert.equal(code(response(0, [...good, 0], 0x8001)), 'TPM_RESPONSE_INVALID'); // trailing byte
  assert.equal(code(response(0, good, 0x8002)), 'TPM_RESPONSE_INVALID'); // session tag
  const twoSelected = [...good];
  twoSelected[13] = 3; // PCRs 16 and 17 selected, one digest
  assert.equal(code(response(0, twoSelected, 0x8001)), 'TPM_RESPONSE_INVALID');
  const big = [...good];
  big[19] = 65; // a 65-byte digest
  assert.equal(code(response(0, big, 0x8001)), 'TPM_RESPONSE_INVALID');
  assert.equal(code(new Uint8Array(4097).fill(0)), 'TPM_RESPONSE_INVALID'); // over 4,096 bytes
});

test('Quote and Extend responses: parameter size past the end, no signature, stray parameters', () => {
  const q = quoteResponse(response(0, [0, 2, 9, 9, 0, 0x18, 0, 0x0b, 0, 0]));
  assert.deepEqual([...q.attest], [9, 9]);
  assert.deepEqual([...q.signature], [0, 0x18, 0, 0x0b, 0, 0]);
  assert.throws(() => quoteResponse(response(0, [0, 2, 9, 9])), { code: 'TPM_RESPONSE_INVALID' });
  assert.throws(() => quoteResponse(response(0, [0, 9, 9])), { code: 'TPM_RESPONSE_INVALID' });
  const past = response(0, [0, 2, 9, 9, 0, 0x18, 0, 0x0b, 0, 0]);
  past[13] = 200; // parameterSize past the response
  assert.throws(() => quoteResponse(past), { code: 'TPM_RESPONSE_INVALID', message: /past the response/ });
  assert.throws(() => quoteResponse(response(0x184, [], 0x8001)), {
    code: 'TPM_TOOL_FAILED',
    message: /0x184/,
  });
  pcrExtendResponse(response(0, []));
  assert.throws(() => pcrExtendResponse(response(0, [1])), { code: 'TPM_RESPONSE_INVALID' });
});

test('property: any bytes given to a response parser end in a TpmDriverError with a code, never a crash', () => {
  const parsers = [pcrReadResponse, quoteResponse, pcrExtendResponse, certifyResponse, signResponse];
  const codes = new Set(['TPM_TOOL_FAILED', 'TPM_RESPONSE_INVALID']);
  // Random bytes, and random bytes behind a plausible header (right tag and size field, rc 0).
  const framed = fc
    .tuple(fc.constantFrom(0x8001, 0x8002), fc.uint8Array({ maxLength: 300 }))
    .map(([tag, body]) => {
      const size = 10 + body.length;
      return new Uint8Array([tag >> 8, tag & 255, 0, 0, size >> 8, size & 255, 0, 0, 0, 0, ...body]);
    });
  fc.assert(
    fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), framed),
      fc.integer({ min: 0, max: 4 }),
      (bytes, i) => {
        try {
          parsers[i]!(bytes);
        } catch (err) {
          assert.ok(err instanceof TpmDriverError, String(err));
          assert.ok(codes.has(err.code), err.code);
        }
      },
    ),
    { numRuns: 3000 },
  );
});

test('the tool path of pcrRead: tpm2_pcrread text to values by index, other lines ignored', () => {
  const z = '00'.repeat(32);
  const f = 'ff'.repeat(32);
  const out = pcrreadValues(
    `  sha256:\n    0 : 0x${z.toUpperCase()}\n    10: 0x${f}\n    x : 0x12\n  sha1:\n`,
  );
  assert.deepEqual(
    [...out].map(([i, v]) => [i, Buffer.from(v).toString('hex')]),
    [
      [0, z],
      [10, f],
    ],
  );
  assert.equal(pcrreadValues('').size, 0);
});
