/**
 * Measured-boot figure (issue 8, item 3): parse + replay (every bank) + appraise, against a
 * policy that names every fact, of a real TCG2 log (Google Compute Engine, 111 events, sha1,
 * sha256 and sha384 banks, 33 KiB; packages/core/test/vectors/boot), as a ratio to one bare
 * SHA-256 pass over the same bytes measured in the same run. One JSON line.
 */
import { readFileSync } from 'node:fs';
import { sha256 } from '@tmb/core';
import { appraiseBootLog, bootFacts, parseBootPolicy, parseEventLog, replayEventLog } from '@tmb/core/boot';
import type { BenchRecord } from './record.ts';

const LOG = new URL('../packages/core/test/vectors/boot/event-gce-ubuntu-2104-log.bin', import.meta.url);

/** Median microseconds per call of `f`, over rounds of at least ~50 ms each. */
function time(f: () => void): number {
  let n = 1;
  for (;;) {
    const t = performance.now();
    for (let i = 0; i < n; i++) f();
    if (performance.now() - t > 50) break;
    n *= 2;
  }
  const rounds: number[] = [];
  for (let r = 0; r < 7; r++) {
    const t = performance.now();
    for (let i = 0; i < n; i++) f();
    rounds.push(((performance.now() - t) * 1000) / n);
  }
  return rounds.sort((a, b) => a - b)[3]!;
}

export async function* run(): AsyncGenerator<BenchRecord> {
  const log = new Uint8Array(readFileSync(LOG));
  const parsed = parseEventLog(log);
  const pcrs = replayEventLog(parsed).get('sha256')!;
  const f = bootFacts(parsed);
  const policy = parseBootPolicy({
    version: 1,
    pk: f.keys.PK,
    kek: f.keys.KEK,
    db: f.keys.db,
    dbx: f.keys.dbx,
    bootApplications: f.applications,
    bootFiles: f.files.map((x) => x.digest),
    kernelCmdline: ['\\S+ root=PARTUUID=\\S+ ro .*'],
  });
  const appraise = () => {
    const a = appraiseBootLog({ log, pcrs, policy });
    if (a.check.status !== 'pass') throw new Error(a.check.detail);
  };
  const bare = () => sha256(log);
  appraise();
  const us = time(appraise);
  const base = time(bare);
  yield {
    bench: 'boot',
    metric: 'appraise_over_sha256',
    value: Number((us / base).toFixed(1)),
    unit: 'x',
    baseline: null,
  };
}
