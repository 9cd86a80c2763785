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
for (const variant of ['honest', 'cheap'] as const) {
  const lat = variant === 'cheap' ? 2 : 5;
  const gpu = await startSimulatedGpu({ variant, tokenLatencyMs: lat });
  const s = await startSampleServer({ model: 'm', variant, tokenLatencyMs: 5, onRequest: gpu.onRequest });
  const smi = await writeNvidiaSmiWrapper(dir, gpu.url);
  const a = await startAgent({ upstream: s.url, dataDir: join(dir, variant), name: `gpu-${variant}`, verifier: { url: v.url, token },
    telemetry: { nvidiaSmi: smi, intervalMs: 20, pushIntervalMs: 200 } }, () => {});
  await new Promise((r) => setTimeout(r, 500));
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${a.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: `hi ${i}` }], stream: true, min_tokens: 48, max_tokens: 48, stream_options: { include_usage: true } }) });
    await r.text();
    ids.push(r.headers.get('tmb-receipt-id')!);
  }
  await new Promise((r) => setTimeout(r, 400));
  await a.flush(); await a.telemetry!.flush();
  for (const id of ids) {
    const f = await (await fetch(`${v.url}/v1/telemetry/receipts/${id}`)).json();
    console.log(variant, f.check.status, f.check.detail, f.features && [f.features.energyPerToken, f.features.tokensPerSecond, f.features.utilization, f.features.sampleCount]);
  }
  console.log(a.telemetry!.counts, a.telemetry!.collector.parser.counts);
  await a.close(); await s.close(); await gpu.close();
}
await v.close();
