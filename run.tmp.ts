import { runTelemetryDemo } from '@tmb/demo';
const t0 = performance.now();
const r = await runTelemetryDemo({ say: console.log, tokenLatencyMs: 5, warmup: 30 });
for (const row of r.rows) console.log(row.backend, row.stream, row.completionTokens, row.level, row.ok, row.telemetry?.status, row.telemetry?.detail);
console.log('caught', r.caught, (performance.now() - t0).toFixed(0), 'ms');
