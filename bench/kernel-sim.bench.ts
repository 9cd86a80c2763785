/**
 * The simulated kernel's cost (docs/kernel.md): regular-file opens per second by one shell inside
 * the simulated host (`: < FILE` in a loop, no fork per file), on files not yet measured (first
 * opens: each waits for hash, log append and a PCR 10 extend on swtpm) and on the same files
 * again (cached: the helper allows them at once); baseline: the same loop outside the simulated
 * host in the same run. The fixed cost of starting the shell is measured with an empty loop and
 * subtracted. Needs root and fanotify; elsewhere it prints nothing and says why on stderr.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provisionSwtpm, startSwtpm } from '@tmb/agent/tpm';
import { type SimulatedKernel, startSimulatedKernel } from '../demo/src/index.ts';
import type { BenchRecord } from './record.ts';

const FILES = 1000;

function timed(c: ReturnType<typeof spawn>): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) =>
    c.once('close', (code) =>
      code === 0 ? resolve(Number(process.hrtime.bigint() - t0) / 1e9) : reject(new Error(`exit ${code}`)),
    ),
  );
}

export async function* run(): AsyncGenerator<BenchRecord> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('kernel-sim: skipped, the simulated kernel needs root\n');
    return;
  }
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-kernel-'));
  const tpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
  let k: SimulatedKernel | null = null;
  try {
    k = await startSimulatedKernel({ stateDir: dir, tpm: tpm.tcti });
    const sim = k;
    const loop = (sub: string) => `for f in ${join(dir, sub)}/*; do [ -f "$f" ] && : < "$f"; done; true`;
    const inside = (sub: string) => timed(sim.spawn('sh', ['-c', loop(sub)], { stdio: 'ignore' }));
    const outside = (sub: string) => timed(spawn('sh', ['-c', loop(sub)], { stdio: 'ignore' }));
    for (const sub of ['a', 'b', 'empty']) await mkdir(join(dir, sub));
    for (let i = 0; i < FILES; i++) {
      await writeFile(join(dir, 'a', `f${i}`), `a ${i}\n`);
      await writeFile(join(dir, 'b', `f${i}`), `b ${i}\n`);
    }
    await inside('empty'); // measures sh, nsenter's env and their libraries once
    const fixedIn = await inside('empty');
    const fixedOut = await outside('empty');
    const base = FILES / Math.max(1e-6, (await outside('a')) - fixedOut);
    const first = FILES / Math.max(1e-6, (await inside('b')) - fixedIn);
    const cached = FILES / Math.max(1e-6, (await inside('b')) - fixedIn);
    const baseAgain = FILES / Math.max(1e-6, (await outside('b')) - fixedOut);
    const r = (n: number) => Math.round(n);
    yield {
      bench: 'kernel-sim',
      metric: 'first_opens_per_s',
      value: r(first),
      unit: 'opens/s',
      baseline: r(base),
    };
    yield {
      bench: 'kernel-sim',
      metric: 'cached_opens_per_s',
      value: r(cached),
      unit: 'opens/s',
      baseline: r(baseAgain),
    };
  } finally {
    await k?.close();
    await tpm.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
