import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent } from '@tmb/agent';
import { startVerifier } from '@tmb/verifier';
import { startSampleServer } from '@tmb/demo';
import { startSimulatedGpu, writeNvidiaSmiWrapper } from './demo/src/gpu/server.ts';
const dir = await mkdtemp(join(tmpdir(), 'tmbt-'));
const token = 'x'.repeat(32);
const v = await startVerifier({ dbPath: join(dir, 'v.db'), tokens: [{ token }] });
const gpu = await startSimulatedGpu({ variant: 'honest', tokenLatencyMs: 5 });
const s = await startSampleServer({ model: 'm', tokenLatencyMs: 5, onRequest: gpu.onRequest });
const smi = await writeNvidiaSmiWrapper(dir, gpu.url);
const a = await startAgent({ upstream: s.url, dataDir: join(dir, 'h'), name: `gpu-h`, verifier: { url: v.url, token },
  telemetry: { nvidiaSmi: smi, intervalMs: 20, pushIntervalMs: 200 } }, (e, d) => console.log(e, d));
for (let k = 0; k < 10; k++) {
  await new Promise((r) => setTimeout(r, 300));
  await a.telemetry!.flush().catch((e) => console.log('flush err', e.message));
  console.log(k, JSON.stringify(a.telemetry!.counts), a.telemetry!.head().count);
}
await a.close(); await s.close(); await gpu.close(); await v.close();
