import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { brokenRun, checkpointRunOf, type NonceAnswer, VerifierRefusal } from '../../src/attest/client.ts';

const refusal = (logRun: unknown) => new VerifierRefusal(422, 'EVIDENCE_REJECTED', 'no', [], logRun);
const nonce = (checkpointRun: unknown) =>
  ({ nonce: '00', logFrom: 0, resetCount: null, checkpointSize: 3, checkpointRun }) as NonceAnswer;

test('an evidence answer with logRun LOG_RUN_BROKEN is read; anything malformed is not a run break', () => {
  const good = { code: 'LOG_RUN_BROKEN', run: 2, base: 40, seq: 41, detail: 'seq 41 never received' };
  assert.deepEqual(brokenRun(refusal(good)), good);
  assert.equal(brokenRun(refusal({ ...good, code: 'SOMETHING_ELSE' })), undefined);
  for (const bad of [
    null,
    'LOG_RUN_BROKEN',
    { ...good, run: -1 },
    { ...good, seq: 1.5 },
    { ...good, base: '40' },
    { ...good, run: 2 ** 53 },
  ])
    assert.equal(brokenRun(refusal(bad)), undefined, JSON.stringify(bad));
  assert.equal(brokenRun(new Error('LOG_RUN_BROKEN')), undefined);
  assert.equal(brokenRun(refusal({ ...good, detail: 'x'.repeat(10_000) }))?.detail.length, 512);
});

test('random logRun members never throw and a break is only ever read from well-typed ones', () => {
  fc.assert(
    fc.property(fc.anything(), (v) => {
      const r = brokenRun(refusal(v));
      if (r !== undefined)
        assert.ok(Number.isSafeInteger(r.run) && Number.isSafeInteger(r.seq) && r.run >= 0);
    }),
  );
});

test("the nonce answer's checkpointRun: {run, base} or a number; absent or odd is run 0 (a verifier without runs)", () => {
  assert.equal(checkpointRunOf(nonce({ run: 3, base: 9 })), 3);
  assert.equal(checkpointRunOf(nonce(2)), 2);
  assert.equal(checkpointRunOf(nonce(undefined)), 0);
  assert.equal(checkpointRunOf(nonce(null)), 0);
  assert.equal(checkpointRunOf(nonce({ run: '3' })), 0);
});
