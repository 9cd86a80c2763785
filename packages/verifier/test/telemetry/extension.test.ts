import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toBase64 } from '@tmb/core';
import { checkTelemetryExtension } from '../../src/telemetry/extension.ts';
import { SqliteTelemetryStore } from '../../src/telemetry/store.ts';

test('a checkpoint extension line is checked against the received telemetry chain', async () => {
  const store = new SqliteTelemetryStore(':memory:', 100);
  const heads = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
  await store.append('a', undefined, { chain: 0, nextSeq: 2, head: heads[1]!, restarts: 0 }, [
    { chain: 0, seq: 0, head: heads[0]!, gpu: [{ t: 1 }] },
    { chain: 0, seq: 1, head: heads[1]!, gpu: [{ t: 2 }] },
  ]);
  assert.equal(
    (await checkTelemetryExtension(store, 'a', `tmb-telemetry 2 ${toBase64(heads[1]!)}`)).status,
    'pass',
  );
  assert.equal(
    (await checkTelemetryExtension(store, 'a', `tmb-telemetry 1 ${toBase64(heads[0]!)}`)).status,
    'pass',
  );
  assert.equal(
    (await checkTelemetryExtension(store, 'a', `tmb-telemetry 1 ${toBase64(heads[1]!)}`)).status,
    'fail',
  );
  assert.equal(
    (await checkTelemetryExtension(store, 'a', `tmb-telemetry 3 ${toBase64(heads[1]!)}`)).status,
    'pending',
  );
  assert.equal(
    (await checkTelemetryExtension(store, 'b', `tmb-telemetry 1 ${toBase64(heads[0]!)}`)).status,
    'pending',
  );
  for (const bad of [
    'tmb-telemetry 0 x',
    'tmb-telemetry 01 AAAA',
    `tmb-telemetry 1 ${toBase64(heads[0]!)} extra`,
  ])
    assert.equal((await checkTelemetryExtension(store, 'a', bad)).status, 'fail');
  await store.close();
});

test('a telemetry line whose head is non-canonical base64 fails as malformed instead of throwing', async () => {
  // 43 characters and '=' match the line's shape, but the last one carries bits a 32-byte head
  // leaves zero: the agent-controlled line once threw out of appraisal (core parseTelemetryLine).
  const store = new SqliteTelemetryStore(':memory:', 100);
  const c = await checkTelemetryExtension(store, 'a', `tmb-telemetry 1 ${'A'.repeat(42)}B=`);
  assert.deepEqual(c, { status: 'fail', detail: 'malformed tmb-telemetry extension line' });
  await store.close();
});
