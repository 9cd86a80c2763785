import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { fromHex, toHex, utf8 } from '../../src/bytes/encoding.ts';
import { CORE_ERROR_CODES } from '../../src/errors.ts';
import { ecdsaNoteVerifier } from '../../src/log/ecdsa.ts';
import { openNote, signNote } from '../../src/log/note.ts';
import { parseAttest } from '../../src/tpm/attest.ts';
import { type CertifyInput, checkpointKeyQualifying, verifyCertify } from '../../src/tpm/certify.ts';
import { checkpointNoteVerifier, spkiOf, verifyCheckpointKey } from '../../src/tpm/ckey.ts';
import { ObjectAttr, parseTpm2bPublic } from '../../src/tpm/public.ts';
import { quoteFiles, vector, vectorPath } from './vectors.ts';

// Vectors: packages/core/test/vectors/tpm/certify/ (scripts/tpm-certify-vectors.ts on swtpm).

const KINDS = ['ecc256', 'rsassa'] as const;

interface Inputs {
  nonce: string;
  agent: string;
  receiptKeyId: string;
  note: string;
}

function files(kind: (typeof KINDS)[number]) {
  const inputs = JSON.parse(readFileSync(vectorPath(`certify/${kind}/inputs.json`), 'utf8')) as Inputs;
  const input: CertifyInput = {
    keyPublic: vector(`certify/${kind}/key.pub`),
    certifyInfo: vector(`certify/${kind}/certify.attest`),
    signature: vector(`certify/${kind}/certify.sig`),
    akPublic: vector(`certify/${kind}/ak.pub`),
    expectedQualifyingData: checkpointKeyQualifying(fromHex(inputs.nonce), inputs.agent, inputs.receiptKeyId),
  };
  return { inputs, input, noteSig: vector(`certify/${kind}/note.sig`) };
}

function failed(input: CertifyInput): string[] {
  return verifyCertify(input)
    .checks.filter((c) => c.status === 'fail')
    .map((c) => `${c.name}:${c.code}`);
}

function flipAt(b: Uint8Array, i: number): Uint8Array {
  const out = b.slice();
  out[i] = out[i]! ^ 1;
  return out;
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  return Buffer.from(hay).indexOf(Buffer.from(needle));
}

for (const kind of KINDS) {
  test(`${kind}: a TPM2_Certify of the checkpoint key made on swtpm verifies`, () => {
    const { input } = files(kind);
    const r = verifyCertify({ ...input, resetCount: parseAttest(input.certifyInfo).clockInfo.resetCount });
    assert.deepEqual(
      r.checks.filter((c) => c.status !== 'pass').map((c) => c.name),
      [],
    );
    assert.equal(r.ok, true);
    assert.equal(r.key?.type, 'ecc');
  });

  test(`${kind}: the checkpoint note signed by the TPM key opens under the key's ECDSA note verifier`, async () => {
    const { inputs, input, noteSig } = files(kind);
    const spki = spkiOf(parseTpm2bPublic(input.keyPublic));
    const origin = `tmb/agent/${inputs.agent}`;
    const v = ecdsaNoteVerifier(origin, spki);
    assert.equal(v.verify(utf8(inputs.note), noteSig), true);
    const note = await signNote(inputs.note, [{ name: origin, keyId: v.keyId, sign: () => noteSig }]);
    const member = {
      type: 'tpm-p256' as const,
      public: Buffer.from(input.keyPublic).toString('base64url'),
      certify: {
        attest: Buffer.from(input.certifyInfo).toString('base64url'),
        signature: Buffer.from(input.signature).toString('base64url'),
        nonce: inputs.nonce,
        receiptKeyId: inputs.receiptKeyId,
      },
    };
    assert.equal(openNote(note, [checkpointNoteVerifier(origin, member)]).ok, true);
    assert.equal(
      openNote(note.replace('\n3\n', '\n4\n'), [checkpointNoteVerifier(origin, member)]).ok,
      false,
    );
    assert.equal(
      verifyCheckpointKey(member, { akPublic: input.akPublic as Uint8Array, agent: inputs.agent }).ok,
      true,
    );
    // Another agent's name, or another receipt key, in the member: the certification no longer binds it.
    assert.equal(
      verifyCheckpointKey(member, { akPublic: input.akPublic as Uint8Array, agent: 'gpu-other' }).ok,
      false,
    );
    const other = { ...member, certify: { ...member.certify, receiptKeyId: toHex(new Uint8Array(32)) } };
    assert.equal(
      verifyCheckpointKey(other, { akPublic: input.akPublic as Uint8Array, agent: inputs.agent }).ok,
      false,
    );
  });
}

test('every field tampered is named by its code (ecc256 AK)', () => {
  const { inputs, input } = files('ecc256');
  const other = files('rsassa').input;
  const attest = input.certifyInfo;
  const parsed = parseAttest(attest);
  const extraAt = indexOf(attest, parsed.extraData);
  const nameAt = indexOf(attest, parsed.certify!.name);
  const SIG = 'tpm.certify.signature:CERTIFY_SIGNATURE_INVALID';
  const cases: [string, Partial<CertifyInput>, string[]][] = [
    ['magic', { certifyInfo: flipAt(attest, 0) }, ['tpm.certify.magic:CERTIFY_MAGIC_INVALID', SIG]],
    [
      'type (a quote type)',
      { certifyInfo: Uint8Array.from([...attest.subarray(0, 5), 0x18, ...attest.subarray(6)]) },
      ['tpm.certify.format:TPM_PCR_SELECTION_INVALID', 'tpm.certify.type:CERTIFY_TYPE_INVALID', SIG],
    ],
    [
      'extraData',
      { certifyInfo: flipAt(attest, extraAt + 5) },
      ['tpm.certify.nonce:CERTIFY_NONCE_MISMATCH', SIG],
    ],
    [
      'certified name',
      { certifyInfo: flipAt(attest, nameAt + 9) },
      ['tpm.certify.name:CERTIFY_NAME_MISMATCH', SIG],
    ],
    ['clock', { certifyInfo: flipAt(attest, extraAt + parsed.extraData.length + 3) }, [SIG]],
    ['signature', { signature: flipAt(input.signature, input.signature.length - 3) }, [SIG]],
    ['another key', { keyPublic: other.keyPublic }, ['tpm.certify.name:CERTIFY_NAME_MISMATCH']],
    ['another AK', { akPublic: other.akPublic }, [SIG]],
    [
      'the wrong nonce',
      {
        expectedQualifyingData: checkpointKeyQualifying(
          new Uint8Array(32),
          inputs.agent,
          inputs.receiptKeyId,
        ),
      },
      ['tpm.certify.nonce:CERTIFY_NONCE_MISMATCH'],
    ],
    [
      'another agent',
      {
        expectedQualifyingData: checkpointKeyQualifying(fromHex(inputs.nonce), 'gpu-2', inputs.receiptKeyId),
      },
      ['tpm.certify.nonce:CERTIFY_NONCE_MISMATCH'],
    ],
    [
      'another receipt key',
      {
        expectedQualifyingData: checkpointKeyQualifying(fromHex(inputs.nonce), inputs.agent, '00'.repeat(32)),
      },
      ['tpm.certify.nonce:CERTIFY_NONCE_MISMATCH'],
    ],
    [
      'another boot',
      { resetCount: parsed.clockInfo.resetCount + 1 },
      ['tpm.certify.reset:CERTIFY_RESET_COUNT_MISMATCH'],
    ],
    [
      'truncated attestation',
      { certifyInfo: attest.subarray(0, attest.length - 1) },
      ['tpm.certify.format:TRUNCATED', SIG],
    ],
    [
      'the key as AK (not restricted)',
      { akPublic: input.keyPublic },
      ['tpm.certify.ak:AK_ATTRIBUTES_INVALID', SIG],
    ],
  ];
  for (const [what, change, codes] of cases)
    assert.deepEqual(failed({ ...input, ...change }).sort(), codes.sort(), what);
});

test('a key that is not fixedTPM or sensitiveDataOrigin, or is a decrypt key, or not P-256, is refused', () => {
  const { input } = files('ecc256');
  const key = input.keyPublic;
  // TPM2B_PUBLIC: size(2) type(2) nameAlg(2) objectAttributes(4) at offset 6.
  const withAttrs = (set: number, clear: number) => {
    const out = key.slice();
    const v = new DataView(out.buffer);
    v.setUint32(6, ((v.getUint32(6, false) | set) & ~clear) >>> 0, false);
    return out;
  };
  const ATTR = 'tpm.certify.key_attributes:CERTIFY_KEY_ATTRIBUTES_INVALID';
  const NAME = 'tpm.certify.name:CERTIFY_NAME_MISMATCH';
  for (const [what, k] of [
    ['not fixedTPM', withAttrs(0, ObjectAttr.fixedTPM)],
    ['not sensitiveDataOrigin', withAttrs(0, ObjectAttr.sensitiveDataOrigin)],
    ['not fixedParent', withAttrs(0, ObjectAttr.fixedParent)],
    ['decrypt', withAttrs(ObjectAttr.decrypt, 0)],
    ['restricted', withAttrs(ObjectAttr.restricted, 0)],
  ] as const)
    assert.deepEqual(failed({ ...input, keyPublic: k }).sort(), [ATTR, NAME].sort(), what);
  // The ECC P-384 AK of the quote vectors offered as the certified key: wrong algorithm and attributes.
  const p384 = quoteFiles('ecc384', 1).akPublic;
  const codes = failed({ ...input, keyPublic: p384 });
  assert.ok(codes.includes('tpm.certify.key_alg:CERTIFY_KEY_ALG_INVALID'), codes.join());
  assert.ok(codes.includes(ATTR), codes.join());
});

test('every code a failed check names is a core error code', () => {
  const { input } = files('ecc256');
  const r = verifyCertify({ ...input, certifyInfo: new Uint8Array(3), signature: new Uint8Array(2) });
  for (const c of r.checks)
    if (c.status === 'fail') assert.ok((CORE_ERROR_CODES as readonly string[]).includes(c.code!));
});

test('property: a certification with any bytes changed never passes, and verifyCertify never throws', () => {
  const { input } = files('ecc256');
  const fields = ['keyPublic', 'certifyInfo', 'signature'] as const;
  fc.assert(
    fc.property(
      fc.constantFrom(...fields),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
      (field, edits) => {
        const b = (input[field] as Uint8Array).slice();
        for (const [i, x] of edits) b[i % b.length] = b[i % b.length]! ^ x;
        // Two edits of one byte can cancel out (x ^ x = 0): that is no change, not a tamper.
        fc.pre(!b.every((v, k) => v === (input[field] as Uint8Array)[k]));
        const r = verifyCertify({ ...input, [field]: b });
        assert.equal(r.ok, false);
        assert.ok(r.checks.some((c) => c.status === 'fail' && typeof c.code === 'string'));
      },
    ),
    { numRuns: 300 },
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 120 }), (a, s) => {
      assert.equal(verifyCertify({ ...input, certifyInfo: a, signature: s }).ok, false);
    }),
    { numRuns: 300 },
  );
});
