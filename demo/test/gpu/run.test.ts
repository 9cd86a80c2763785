import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runTelemetryDemo } from '@tmb/demo';

test('end to end on the simulated GPU: the honest backend passes telemetry.consistent, the cheap one fails it', async () => {
  const lines: string[] = [];
  const r = await runTelemetryDemo({ tokenLatencyMs: 3, warmup: 16, requests: 2, say: (l) => lines.push(l) });
  assert.equal(r.profile.key.modelDigest, 'name:sample-7b');
  assert.ok(r.profile.calibration !== undefined);
  assert.equal(r.rows.length, 4);
  for (const row of r.rows) {
    assert.ok(row.telemetry !== undefined, 'every verdict carries the telemetry link');
    assert.equal(row.level, 'L0'); // no TPM here, so L1 and with it L2 are out of reach
    if (row.backend === 'honest') {
      assert.equal(row.telemetry.status, 'pass', row.telemetry.detail);
      assert.equal(row.ok, true);
    } else {
      assert.equal(row.telemetry.status, 'fail', row.telemetry.detail);
      assert.equal(row.telemetry.code, 'TELEMETRY_INCONSISTENT');
      assert.equal(row.ok, false);
    }
    assert.match(
      row.telemetry.detail,
      /profile [0-9a-f]{16} \(name:sample-7b, TMB SIMULATED GPU 80GB, bucket 1\)/,
    );
  }
  assert.equal(r.caught, true);
  assert.ok(lines.some((l) => /SIMULATED/.test(l)));
});
