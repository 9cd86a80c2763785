import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { appraiseEvidence, type Evidence } from '../../src/appraise/evidence.ts';
import type { AgentAttest } from '../../src/attest/state.ts';
import { newKey } from '../fixtures.ts';

// Evidence is untrusted bytes end to end: whatever arrives, appraisal names checks and never
// throws, and only evidence whose every check passes is accepted.

const vec = (f: string) =>
  new Uint8Array(readFileSync(new URL(`../../../core/test/vectors/tpm/ecc256/${f}`, import.meta.url)));
const state: AgentAttest = {
  ekPublic: '',
  ekCheck: { name: 'host.ek_certificate', status: 'pass', detail: '' },
  akPublic: Buffer.from(vec('ak.pub')).toString('base64url'),
  akName: '000b' + '00'.repeat(32),
  activatedAt: 0,
  pcr: 16,
  clock: null,
  ima: null,
  bound: [],
  checkpoint: null,
  checks: [],
  quote: null,
  acceptedAt: null,
};
const key = newKey('gpu-1');
const keys = [{ agent: 'gpu-1', keyId: key.keyId, key: key.raw, enrolledAt: 0 }];
const NAMES = [
  'checkpoint.signature',
  'quote.signature',
  'quote.nonce',
  'quote.clock',
  'quote.pcr_digest',
  'log.replay',
  'key.bound',
  'checkpoint.consistent',
  'checkpoint.receipts',
  'telemetry.chain',
  'host.integrity',
  'host.boot',
];

function appraise(ev: Evidence) {
  return appraiseEvidence({
    state,
    ev,
    nonceRefusal: undefined,
    keys,
    origin: 'tmb/agent/gpu-1',
    treeRoot: () => null,
  });
}

test('random evidence never throws, is never accepted, and names only known checks', () => {
  fc.assert(
    fc.property(
      fc.record({
        nonce: fc.string({ maxLength: 70 }),
        note: fc.string({ maxLength: 300 }),
        attest: fc.uint8Array({ maxLength: 300 }),
        signature: fc.uint8Array({ maxLength: 300 }),
        pcrs: fc.uint8Array({ maxLength: 800 }),
        logFrom: fc.nat(10),
        log: fc.uint8Array({ maxLength: 300 }),
        consistency: fc.anything(),
      }),
      (ev) => {
        const r = appraise({ ...ev, kernel: null, boot: null, telemetryTool: null });
        assert.equal(r.next, null);
        for (const c of r.checks) assert.ok(NAMES.includes(c.name), c.name);
      },
    ),
    { numRuns: 300 },
  );
});

test('a real quote with one byte flipped is refused with quote.signature named', () => {
  const attest = vec('quote1.msg');
  fc.assert(
    fc.property(fc.nat(attest.length - 1), (i) => {
      const bad = new Uint8Array(attest);
      bad[i]! ^= 0x01;
      const r = appraise({
        nonce: '00',
        note: 'x',
        attest: bad,
        signature: vec('quote1.sig'),
        pcrs: vec('quote1.pcrs'),
        logFrom: 0,
        log: new Uint8Array(0),
        consistency: null,
        kernel: null,
        boot: null,
        telemetryTool: null,
      });
      assert.equal(r.next, null);
      assert.equal(r.checks.find((c) => c.name === 'quote.signature')?.status, 'fail');
    }),
    { numRuns: 50 },
  );
});
