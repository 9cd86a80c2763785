/**
 * Runs every benchmark under bench/ (`npm run bench`) or those named (`npm run bench -- NAME ...`),
 * printing one JSON object per line:
 *   {"bench": NAME, "metric": NAME, "value": NUMBER, "unit": UNIT, "baseline": NUMBER|null}
 * `value` is measured in the same run as `baseline` (direct vs through the agent, and so on),
 * because these machines are shared and noisy: compare the two, not runs with each other.
 */
import { readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import type { BenchRecord } from './record.ts';

const dir = import.meta.dirname;
const files = (await readdir(dir)).filter((f) => f.endsWith('.bench.ts')).sort();
const names = files.map((f) => basename(f, '.bench.ts'));
// Flags are for the benches (e.g. `soak --minutes 10`, read by bench/soak.bench.ts): a word right
// after a flag that names no benchmark is that flag's value, not a benchmark name.
const args = process.argv.slice(2);
const wanted = args.filter(
  (a, i) => !a.startsWith('-') && (names.includes(a) || i === 0 || !args[i - 1]!.startsWith('-')),
);
const unknown = wanted.filter((w) => !names.includes(w));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark ${unknown.join(', ')}; there are: ${names.join(', ')}\n`);
  process.exit(2);
}
for (const name of names) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  const mod = (await import(`./${name}.bench.ts`)) as { run: () => AsyncIterable<BenchRecord> };
  for await (const record of mod.run()) process.stdout.write(`${JSON.stringify(record)}\n`);
}
