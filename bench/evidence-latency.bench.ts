/**
 * Time to evidence (issue 8, "Bounded time to evidence"): on a simulated host with no traffic, a
 * file read inside the host is measured by the simulated kernel, and the agent has it quoted;
 * measured: from the start of the read to the verifier holding a quote that covers the new
 * kernel log entry (GET /v1/agents/:agent/checkpoint `kernelEntries`), p50 and p99 over
 * PROBES reads. Baseline, in the same run: the read itself (spawning `cat` inside the host
 * and the kernel measuring the file before the open returns). Needs root (fanotify, mount
 * namespaces) and swtpm; prints nothing without them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startEngine, startHostAgent, startSimHost } from '../packages/cli/src/commands/demo/host.ts';
import { startVerifier } from '../packages/verifier/src/index.ts';
import { type BenchRecord, percentile } from './record.ts';

const PROBES = 30;

export async function* run(): AsyncIterable<BenchRecord> {
  if (process.getuid?.() !== 0) {
    process.stderr.write('evidence-latency: needs root (simulated kernel); skipped\n');
    return;
  }
  const root = await mkdtemp(join(tmpdir(), 'tmb-bench-latency-'));
  const host = await startSimHost({
    name: 'gpu-bench',
    variant: 'honest',
    root,
    kernel: true,
    tpm: true,
    log: () => {},
  });
  try {
    const token = randomBytes(24).toString('hex');
    const verifier = await startVerifier({
      dbPath: join(root, 'v.db'),
      tokens: [{ token, agent: host.name }],
      tpmRoots: host.tpmRoots,
    });
    try {
      const weights = join(root, 'weights.bin');
      await writeFile(weights, randomBytes(4096));
      const engine = await startEngine(host, { model: 'm', weights, latencyMs: 0, gpu: false });
      await startHostAgent(host, {
        upstream: String(engine.ready.listening),
        weights,
        nvidiaSmi: null,
        verifier: verifier.url,
        token,
        appPcr: 15,
        sampleMs: 100,
      });
      const covered = async () => {
        const r = await fetch(`${verifier.url}/v1/agents/${host.name}/checkpoint`);
        if (r.status !== 200) return -1;
        return ((await r.json()) as { kernelEntries: number | null }).kernelEntries ?? -1;
      };
      // Start-up settles: no new entries for a while and all of them quoted.
      for (let last = -2, still = 0; still < 5; await sleep(200)) {
        const n = host.kernel!.count();
        still = n === last && (await covered()) >= n ? still + 1 : 0;
        last = n;
      }
      const probes = join(root, 'probe');
      await mkdir(probes);
      const total: number[] = [];
      const read: number[] = [];
      for (let i = 0; i < PROBES; i++) {
        const file = join(probes, `p${i}`);
        await writeFile(file, randomBytes(64));
        const t0 = performance.now();
        const { code } = await host.run('cat', [file]);
        const t1 = performance.now();
        if (code !== 0) throw new Error(`cat exited ${code}`);
        const want = host.kernel!.count();
        while ((await covered()) < want) {
          if (performance.now() - t0 > 30_000) throw new Error('no quote covered the entry in 30 s');
          await sleep(10);
        }
        total.push(performance.now() - t0);
        read.push(t1 - t0);
        await sleep(300); // quiet between probes: each starts from an idle host
      }
      total.sort((a, b) => a - b);
      read.sort((a, b) => a - b);
      for (const p of [50, 99])
        yield {
          bench: 'evidence-latency',
          metric: `file_read_to_quoted_p${p}_ms`,
          value: +percentile(total, p).toFixed(1),
          unit: 'ms',
          baseline: +percentile(read, p).toFixed(1),
        };
    } finally {
      await verifier.close();
    }
  } finally {
    await host.stop();
    await rm(root, { recursive: true, force: true });
  }
}
