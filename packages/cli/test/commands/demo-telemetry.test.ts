import assert from 'node:assert/strict';
import { test } from 'node:test';
import { main } from '../../src/main.ts';

test('tmb demo --telemetry --json: honest rows pass telemetry.consistent, cheap rows fail it; says the GPU is simulated', async () => {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
    stdin: async () => new Uint8Array(0),
  };
  assert.equal(await main(['demo', '--telemetry', '--json', '--token-latency', '3'], io), 0, io.err);
  const rows = io.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { backend: string; telemetry: { status: string; code?: string } });
  assert.equal(rows.length, 8);
  for (const r of rows)
    assert.deepEqual(
      [r.telemetry.status, r.telemetry.code],
      r.backend === 'honest' ? ['pass', undefined] : ['fail', 'TELEMETRY_INCONSISTENT'],
    );
  assert.match(io.err, /THE GPU IS SIMULATED/);
  assert.match(io.err, /cheap backend was caught by telemetry/);
});
