/**
 * The TPM-held checkpoint key (issue 9, item 5), on an swtpm provisioned here:
 *   - `ckey_create_certify_ms`: once per agent start, TpmDriver.createCheckpointKey (primary,
 *     create, load, persist, TPM2_Certify by the AK over the driver's transport), p50 of 5,
 *     against one AK quote (TpmDriver.quote) measured in the same run as the baseline;
 *   - `ckey_sign_ms`: per checkpoint, TpmDriver.signWithCheckpointKey (one TPM2_Sign over the
 *     driver's transport, the resident connection by default: docs/tpm.md; and the driver's
 *     check of the signature), p50 of 30, against the in-memory Ed25519 note signature it is
 *     added to (node:crypto), measured in the same run;
 *   - `ckey_sign_per_s`: signatures a second, one after another (the rate ceiling of a TPM-held
 *     receipt key: receipts are signed per request, checkpoints a few times a second at most);
 *   - `tool_runs_per_sign`: processes started per signature.
 * Run: `npm run bench -- tpm-keys`.
 */

import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provisionSwtpm, startSwtpm, TpmDriver } from '@tmb/agent/tpm';
import { sha256, utf8 } from '@tmb/core';
import { type BenchRecord, percentile } from './record.ts';

const CREATES = 5;
const SIGNS = 30;
const NOTE = utf8(
  'tmb/agent/bench\n1234\nq0+/6TGmB3vNVo6gBUsZXEtf2k4zVW0fR5iZLyLuL0o=\ntmb-telemetry 3 AAAA\n',
);

const p50 = (xs: number[]) =>
  percentile(
    xs.sort((a, b) => a - b),
    50,
  );
const r2 = (x: number) => Number(x.toFixed(2));

export async function* run(): AsyncGenerator<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-tpm-keys-'));
  const swtpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
  try {
    const d = new TpmDriver({ tcti: swtpm.tcti, workDir: join(dir, 'work') });
    await d.createAk();
    await d.quote([16], sha256(utf8('warm-up'))); // places the AK: not steady state
    const creates: number[] = [];
    const quotes: number[] = [];
    for (let i = 0; i < CREATES; i++) {
      let t0 = performance.now();
      await d.createCheckpointKey(sha256(utf8(`bench ${i}`)));
      creates.push(performance.now() - t0);
      t0 = performance.now();
      await d.quote([16], sha256(utf8(`quote ${i}`)));
      quotes.push(performance.now() - t0);
    }
    yield {
      bench: 'tpm-keys',
      metric: 'ckey_create_certify_ms',
      value: r2(p50(creates)),
      unit: 'ms',
      baseline: r2(p50(quotes)),
    };

    const { privateKey } = generateKeyPairSync('ed25519');
    const tpmMs: number[] = [];
    const edMs: number[] = [];
    const runs0 = d.toolRuns;
    const start = performance.now();
    for (let i = 0; i < SIGNS; i++) {
      const t0 = performance.now();
      await d.signWithCheckpointKey(NOTE);
      tpmMs.push(performance.now() - t0);
    }
    const elapsed = performance.now() - start;
    const runs = (d.toolRuns - runs0) / SIGNS;
    for (let i = 0; i < 1000; i++) {
      const t0 = performance.now();
      sign(null, NOTE, privateKey);
      edMs.push(performance.now() - t0);
    }
    yield {
      bench: 'tpm-keys',
      metric: 'ckey_sign_ms',
      value: r2(p50(tpmMs)),
      unit: 'ms',
      baseline: Number(p50(edMs).toFixed(4)),
    };
    yield {
      bench: 'tpm-keys',
      metric: 'ckey_sign_per_s',
      value: Math.round((SIGNS * 1000) / elapsed),
      unit: 'per s',
      baseline: null,
    };
    yield { bench: 'tpm-keys', metric: 'tool_runs_per_sign', value: runs, unit: 'processes', baseline: null };
    await d.close();
  } finally {
    await swtpm.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
