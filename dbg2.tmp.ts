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
  telemetry: { nvidiaSmi: smi, intervalMs: 20, pushIntervalMs: 200 } }, (e, d) => {});
await new Promise((r) => setTimeout(r, 300));
for (let k = 0; k < 4; k++) {
  const r = await fetch(`${a.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `hi ${k}` }], stream: true, stream_options: { include_usage: true } }) });
  await r.text();
  const id = r.headers.get('tmb-receipt-id');
  await new Promise((r) => setTimeout(r, 60));
  await a.telemetry!.flush(); await a.flush();
  const f1 = await (await fetch(`${v.url}/v1/telemetry/receipts/${id}`)).json();
  await new Promise((r) => setTimeout(r, 500));
  const f2 = await (await fetch(`${v.url}/v1/telemetry/receipts/${id}`)).json();
  console.log(k, f1.features?.sampleCount, f2.features?.sampleCount, f2.concurrency);
}
await a.close(); await s.close(); await gpu.close(); await v.close();
