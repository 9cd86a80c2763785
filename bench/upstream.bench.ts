/**
 * Upstream identification (docs/upstream.md): one full identifyUpstream of a loopback listener
 * (tcp/tcp6 tables, a walk of every /proc/<pid>/fd, then the holder's exe, cmdline, fds and maps);
 * baseline: a bare readdir of /proc in the same run, the least any walk of the process list costs.
 * The listener is this process's own server, so the walk reads every process on the host.
 */

import { readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { identifyUpstream } from '../packages/agent/src/upstream/index.ts';
import { type BenchRecord, percentile } from './record.ts';

const RUNS = 20;

export async function* run(): AsyncIterable<BenchRecord> {
  const server = createServer();
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const full: number[] = [];
  const bare: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      let t = performance.now();
      await readdir('/proc');
      bare.push(performance.now() - t);
      t = performance.now();
      const id = await identifyUpstream(url);
      full.push(performance.now() - t);
      // Not root (no fds of others readable), or no /proc: still a timing, of a walk that finds nothing.
      if (id.kind === 'remote') throw new Error('loopback identified as remote');
    }
  } finally {
    await new Promise((res) => server.close(res));
  }
  const s = (a: number[]) => [...a].sort((x, y) => x - y);
  yield {
    bench: 'upstream',
    metric: 'identify_p50_ms',
    value: +percentile(s(full), 50).toFixed(3),
    unit: 'ms',
    baseline: +percentile(s(bare), 50).toFixed(3),
  };
}
