/**
 * Host measurement: measuring one weights file into the agent's measurement log
 * (MeasurementLog.measureFile: streamed SHA-256 in 1 MiB chunks, then an ima-ng entry and a
 * PCR extend, here a software one) against a bare streamed SHA-256 of the same file, in the same
 * run, alternating, best of two each. The file is 1 GiB (TMB_BENCH_HOST_BYTES overrides),
 * generated: 16 MiB of pseudo-random bytes written repeatedly (not sparse, so the page cache,
 * not a hole, feeds the hash), in the system temp folder, removed after. Bounded: 4 passes.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MeasurementLog } from '@tmb/agent/measure';
import type { BenchRecord } from './record.ts';

const BYTES = Number(process.env.TMB_BENCH_HOST_BYTES ?? 1 << 30);
const BLOCK = 16 << 20;

async function rawSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

export async function* run(): AsyncGenerator<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-host-'));
  try {
    const path = join(dir, 'weights.gguf');
    const block = new Uint8Array(BLOCK);
    for (let at = 0; at < BLOCK; at += 32) block.set(createHash('sha256').update(`w${at}`).digest(), at);
    const f = await open(path, 'w');
    for (let at = 0; at < BYTES; at += BLOCK) await f.write(block, 0, Math.min(BLOCK, BYTES - at));
    await f.close();
    const log = new MeasurementLog({ pcrIndex: 15, extend: () => {} });
    let measured = Number.POSITIVE_INFINITY;
    let raw = Number.POSITIVE_INFINITY;
    let digest = '';
    for (let i = 0; i < 2; i++) {
      let t = performance.now();
      const rawHex = await rawSha256(path);
      raw = Math.min(raw, performance.now() - t);
      t = performance.now();
      digest = (await log.measureFile(path)).digest;
      measured = Math.min(measured, performance.now() - t);
      if (digest !== rawHex) throw new Error('measured digest differs from the raw SHA-256');
    }
    const mib = BYTES / (1 << 20);
    yield {
      bench: 'host',
      metric: 'measure_file_mib_per_s',
      value: mib / (measured / 1000),
      unit: 'MiB/s',
      baseline: mib / (raw / 1000),
    };
    yield { bench: 'host', metric: 'measure_file_ms', value: measured, unit: 'ms', baseline: raw };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
