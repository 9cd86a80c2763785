import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from '../../src/crypto/hash.ts';
import { parseAttest } from '../../src/tpm/attest.ts';
import { parsePcrsFile } from '../../src/tpm/pcrfile.ts';
import { parseTpm2bPublic, tpmName } from '../../src/tpm/public.ts';
import { verifyQuote } from '../../src/tpm/quote.ts';
import { AK_KINDS, quoteFiles } from './vectors.ts';

function failed(r: ReturnType<typeof verifyQuote>): string[] {
  return r.checks.filter((c) => c.status === 'fail').map((c) => `${c.name}:${c.code}`);
}

for (const kind of AK_KINDS) {
  test(`${kind}: quotes made by tpm2_quote on swtpm verify, with PCR values`, () => {
    for (const n of [1, 2] as const) {
      const q = quoteFiles(kind, n);
      const r = verifyQuote({ ...q, expectedQualifyingData: q.nonce });
      assert.deepEqual(failed(r), []);
      assert.equal(r.ok, true);
      const passed = r.checks.filter((c) => c.status === 'pass').map((c) => c.name);
      for (const name of ['tpm.quote.signature', 'tpm.quote.pcrs', 'tpm.quote.nonce', 'tpm.ak.attributes'])
        assert.ok(passed.includes(name), `${name} passed`);
    }
  });

  test(`${kind}: the AK given as PEM verifies the same quote`, () => {
    const q = quoteFiles(kind, 1);
    const r = verifyQuote({ ...q, akPublic: q.akPem, expectedQualifyingData: q.nonce });
    assert.equal(r.ok, true);
    assert.equal(r.checks.find((c) => c.name === 'tpm.ak.attributes')?.status, 'skipped');
  });

  test(`${kind}: the second quote is after the first; the first replayed after the second is refused`, () => {
    const q1 = quoteFiles(kind, 1);
    const q2 = quoteFiles(kind, 2);
    const first = verifyQuote({ ...q1, expectedQualifyingData: q1.nonce });
    const second = verifyQuote({
      ...q2,
      expectedQualifyingData: q2.nonce,
      previousClock: first.attest!.clockInfo,
    });
    assert.equal(second.ok, true);
    assert.equal(second.checks.find((c) => c.name === 'tpm.quote.clock')?.status, 'pass');
    const replay = verifyQuote({
      ...q1,
      expectedQualifyingData: q1.nonce,
      previousClock: second.attest!.clockInfo,
    });
    assert.deepEqual(failed(replay), ['tpm.quote.clock:QUOTE_CLOCK_REGRESSED']);
    const same = verifyQuote({
      ...q1,
      expectedQualifyingData: q1.nonce,
      previousClock: first.attest!.clockInfo,
    });
    assert.deepEqual(failed(same), ['tpm.quote.clock:QUOTE_CLOCK_REGRESSED']);
  });
}

test('parsed fields of a known quote: type, nonce, selection, clock', () => {
  const q = quoteFiles('ecc256', 1);
  const a = parseAttest(q.attest);
  assert.equal(a.magic, 0xff544347);
  assert.equal(a.type, 0x8018);
  assert.deepEqual(a.extraData, q.nonce);
  assert.deepEqual(
    a.quote?.pcrSelect.map((b) => [b.hash, b.pcrs]),
    [['sha256', [0, 16, 23]]],
  );
  assert.equal(a.clockInfo.safe, true);
  assert.equal(a.quote?.pcrDigest.length, 32);
  const values = parsePcrsFile(q.pcrs);
  assert.equal(values.digests.length, 3);
  assert.deepEqual(values.digests[0], new Uint8Array(32)); // PCR 0 of a fresh swtpm
  assert.notDeepEqual(values.digests[1], new Uint8Array(32)); // PCR 16, extended by the script
  assert.deepEqual(sha256(...values.digests), a.quote?.pcrDigest);
});

test('the AK name is nameAlg || SHA-256(TPMT_PUBLIC) and matches the quote-signer form', () => {
  const pub = parseTpm2bPublic(quoteFiles('ecc256', 1).akPublic);
  const name = tpmName(pub);
  assert.equal(name.length, 34);
  assert.deepEqual([...name.subarray(0, 2)], [0x00, 0x0b]);
  assert.deepEqual(name.subarray(2), sha256(pub.bytes));
  assert.equal(pub.type, 'ecc');
});

test('a quote without PCR values skips the digest check and still verifies', () => {
  const q = quoteFiles('rsassa', 1);
  const { pcrs: _unused, ...rest } = q;
  const r = verifyQuote({ ...rest, expectedQualifyingData: q.nonce });
  assert.equal(r.ok, true);
  assert.equal(r.checks.find((c) => c.name === 'tpm.quote.pcrs')?.status, 'skipped');
  const required = verifyQuote({ ...rest, requirePcrs: true, expectedQualifyingData: q.nonce });
  assert.deepEqual(failed(required), ['tpm.quote.pcrs:QUOTE_PCRS_MISSING']);
});

test('wrong qualifying data, PCR values of another quote, another AK: each named', () => {
  const q = quoteFiles('ecc256', 1);
  const other = quoteFiles('ecc384', 1);
  assert.deepEqual(failed(verifyQuote({ ...q, expectedQualifyingData: other.nonce })), [
    'tpm.quote.nonce:QUOTE_NONCE_MISMATCH',
  ]);
  assert.deepEqual(failed(verifyQuote({ ...q, akPublic: other.akPublic, expectedQualifyingData: q.nonce })), [
    'tpm.quote.signature:QUOTE_SIGNATURE_SCHEME_MISMATCH',
  ]);
  const rsa = quoteFiles('rsassa', 1);
  assert.deepEqual(failed(verifyQuote({ ...q, akPublic: rsa.akPem, expectedQualifyingData: q.nonce })), [
    'tpm.quote.signature:QUOTE_SIGNATURE_INVALID',
  ]);
  const pcrs = parsePcrsFile(q.pcrs);
  pcrs.digests[1] = new Uint8Array(32);
  assert.deepEqual(failed(verifyQuote({ ...q, pcrs, expectedQualifyingData: q.nonce })), [
    'tpm.quote.pcrs:QUOTE_PCR_DIGEST_MISMATCH',
  ]);
  pcrs.selection[0]!.pcrs = [0, 16, 22];
  assert.deepEqual(failed(verifyQuote({ ...q, pcrs, expectedQualifyingData: q.nonce })), [
    'tpm.quote.pcrs:QUOTE_PCR_SELECTION_MISMATCH',
  ]);
});

test('the enrolled AK name is checked: the right one passes, another AK or a PEM fails', () => {
  const q = quoteFiles('ecc256', 1);
  const akName = tpmName(parseTpm2bPublic(q.akPublic));
  const ok = verifyQuote({ ...q, akName, expectedQualifyingData: q.nonce });
  assert.equal(ok.checks.find((c) => c.name === 'tpm.ak.enrolled')?.status, 'pass');
  assert.equal(ok.ok, true);
  const otherName = tpmName(parseTpm2bPublic(quoteFiles('rsassa', 1).akPublic));
  assert.deepEqual(failed(verifyQuote({ ...q, akName: otherName, expectedQualifyingData: q.nonce })), [
    'tpm.ak.enrolled:AK_NAME_MISMATCH',
  ]);
  assert.deepEqual(
    failed(verifyQuote({ ...q, akPublic: q.akPem, akName, expectedQualifyingData: q.nonce })),
    ['tpm.ak.enrolled:AK_NAME_MISMATCH'],
  );
});
