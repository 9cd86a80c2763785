import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromHex, sha256, toHex, utf8 } from '@tmb/core';
import {
  chainHead,
  GENESIS_HEAD,
  nextHead,
  TELEMETRY_CHAIN_DOMAIN,
  telemetryBatchBytes,
} from '@tmb/core/telemetry';

// Known answers computed with the agent's and the verifier's own chain code before issue 11
// moved it here (agent telemetry/chain.ts, verifier telemetry/chain.ts at c72eedf): the batches
// of packages/agent/test/telemetry/chain.test.ts.
const B0 = { v: 1, seq: 0, gpu: [{ t: 1.5, gpu: 0, powerW: 62.87 }], proc: [] } as const;
const B1 = { v: 1, seq: 1, gpu: [], proc: [{ t: 2, pid: 9, cpuSeconds: 1.25, rssBytes: 4096 }] } as const;
const B0_TEXT = '{"gpu":[{"gpu":0,"powerW":62.87,"t":1.5}],"proc":[],"seq":0,"v":1}';
const B1_TEXT = '{"gpu":[],"proc":[{"cpuSeconds":1.25,"pid":9,"rssBytes":4096,"t":2}],"seq":1,"v":1}';
const H0 = 'd204bbea258cf23b44e98489f8fc82064a176cc4b58d4522246677d9368c4a9d';
const H1 = '88be800218aeb5442f2433cb6beb6575509b8818b9e7356ef2faddbe59957a1c';

test('batch bytes: known answers', () => {
  assert.equal(new TextDecoder().decode(telemetryBatchBytes(B0)), B0_TEXT);
  assert.equal(new TextDecoder().decode(telemetryBatchBytes(B1)), B1_TEXT);
});

test('chain: domain, genesis and heads are the known answers', () => {
  assert.deepEqual(TELEMETRY_CHAIN_DOMAIN, utf8('tmb-telemetry-batch-v1\0'));
  assert.equal(TELEMETRY_CHAIN_DOMAIN.length, 23);
  assert.deepEqual(GENESIS_HEAD, new Uint8Array(32));
  const b0 = telemetryBatchBytes(B0);
  const b1 = telemetryBatchBytes(B1);
  assert.equal(toHex(nextHead(GENESIS_HEAD, b0)), H0);
  assert.equal(toHex(nextHead(fromHex(H0), b1)), H1);
  assert.equal(toHex(chainHead([b0, b1])), H1);
  assert.equal(toHex(chainHead([b1], fromHex(H0))), H1);
  assert.deepEqual(nextHead(GENESIS_HEAD, b0), sha256(TELEMETRY_CHAIN_DOMAIN, GENESIS_HEAD, sha256(b0)));
  assert.deepEqual(chainHead([]), GENESIS_HEAD);
});

test('chain: dropping, reordering or editing a batch changes the head', () => {
  const b0 = telemetryBatchBytes(B0);
  const b1 = telemetryBatchBytes(B1);
  const edited = telemetryBatchBytes({ ...B0, gpu: [{ ...B0.gpu[0], powerW: 62.88 }] });
  for (const other of [[b1, b0], [b1], [edited, b1], [b0, b1, b1]])
    assert.notEqual(toHex(chainHead(other)), H1);
});

test('batch bytes refuse a sample JSON cannot carry', () => {
  assert.throws(() => telemetryBatchBytes({ v: 1, seq: 0, gpu: [{ powerW: Number.NaN }], proc: [] }), {
    name: 'CoreError',
    code: 'BAD_ENCODING',
  });
});
