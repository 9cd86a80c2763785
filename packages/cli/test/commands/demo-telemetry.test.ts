import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/main.ts';

const onPath = (name: string) =>
  (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, name)));

test('tmb demo --telemetry --json: honest rows pass telemetry.consistent (L2 with swtpm), cheap rows fail it; the GPU is simulated', async () => {
  const swtpm = onPath('swtpm') && onPath('swtpm_setup');
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
    .map(
      (l) =>
        JSON.parse(l) as { backend: string; level: string; telemetry: { status: string; code?: string } },
    );
  assert.equal(rows.length, 8);
  for (const r of rows) {
    assert.deepEqual(
      [r.telemetry.status, r.telemetry.code],
      r.backend === 'honest' ? ['pass', undefined] : ['fail', 'TELEMETRY_INCONSISTENT'],
    );
    // With an swtpm per agent the honest answers reach L1, and with telemetry L2.
    assert.equal(r.level, r.backend === 'honest' && swtpm ? 'L2' : 'L0');
  }
  assert.match(io.err, /THE GPU IS SIMULATED/);
  assert.match(io.err, /cheap backend was caught by telemetry/);
});
