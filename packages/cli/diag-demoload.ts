// TEMPORARY diagnostic (helper DEMOLOAD): runs the demo round and dumps each generated row's telemetry window.
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { startStack } from './src/commands/demo/stack.ts';
import { warmUp } from './src/commands/demo/warmup.ts';
import { exchange, ROUND } from './src/commands/demo/exchange.ts';

const out: unknown[] = [];
const stack = await startStack({ model: 'sample-7b', latencyMs: 5, tpm: 'none', telemetry: true, log: () => {}, parent: '/tmp/dl' });
try {
  const warm = await warmUp(stack, 'sample-7b');
  const rows = [];
  for (let i = 0; i < ROUND.length * 2; i++) rows.push(await exchange(stack, stack.backends[i % 2]!, 'sample-7b', Math.floor(i / 2), new AbortController().signal));
  const db = new DatabaseSync(join(stack.dir, 'verifier.db.telemetry'), { readOnly: true });
  let bad = 0;
  for (const r of rows) {
    if (r.endpoint === 'embeddings' || r.receiptId === null) continue;
    const t = r.checks.find((c) => c.name === 'telemetry.consistent');
    const f = await (await fetch(`${stack.verifier.url}/v1/telemetry/receipts/${r.receiptId}`)).json();
    const span = db.prepare('SELECT * FROM tm_span WHERE id = ?').get(r.receiptId) as any;
    const agent = `gpu-${r.backend}`;
    const samples = span ? db.prepare('SELECT t, data FROM tm_sample WHERE agent = ? AND t >= ? AND t <= ? ORDER BY t').all(agent, span.start - 300, span.end + 300).map((x: any) => {
      const d = JSON.parse(x.data);
      return { t: +(x.t - span.start).toFixed(1), tool: d.toolTime !== undefined ? +(d.toolTime - span.start).toFixed(1) : null, e: d.energyJ, p: d.powerW, u: d.utilGpu };
    }) : [];
    const expected = r.backend === 'cheap' ? 'fail' : 'pass';
    if (t?.status !== expected) bad++;
    out.push({ backend: r.backend, endpoint: r.endpoint, stream: r.stream, status: t?.status, detail: t?.detail, features: f.features, span: span && { dur: span.end - span.start, first: span.first === null ? null : span.first - span.start, tokens: span.tokens }, samples });
  }
  out.unshift({ warm, bad });
  console.log(JSON.stringify(out, null, 1));
} finally {
  await stack.close();
}
