import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { requestFeatures } from '@tmb/stats';
import type { ChildLike } from '../../src/telemetry/collect/spawn.ts';
import {
  DEFAULT_NVSMI_QUERY,
  type GpuSample,
  NvSmiCollector,
  NvSmiParser,
  parseNvSmiTimestamp,
} from '../../src/telemetry/index.ts';

// Real nvidia-smi output of real GPU work on an H200 (vectors/real-h200/README.md).
const dir = new URL('./vectors/real-h200/', import.meta.url);
const read = (name: string, from = dir) => readFileSync(new URL(name, from), 'utf8');
const lines = (name: string, from = dir) =>
  read(name, from)
    .split('\n')
    .filter((l) => l !== '');
/** The collector's default query less the energy counter, which driver 580 refuses. */
const QUERY = DEFAULT_NVSMI_QUERY.filter((f) => f !== 'total_energy_consumption');
const UUID = 'GPU-74182e93-7880-5790-c0f6-3fdb62d381fc';

function parseAll(parser: NvSmiParser, text: string[]): GpuSample[] {
  const out: GpuSample[] = [];
  const t0 = parseNvSmiTimestamp(text.find((l) => /^\d{4}\//.test(l))!.split(',')[0]!);
  for (const l of text) {
    // The agent's monotonic clock, here the tool's own time: no drift.
    const now = Number.isNaN(parseNvSmiTimestamp(l.split(',')[0]!))
      ? 0
      : parseNvSmiTimestamp(l.split(',')[0]!) - t0;
    const s = parser.line(l, now);
    if (s !== undefined) out.push(s);
  }
  return out;
}

const nonZero = (p: NvSmiParser) => Object.entries(p.counts.counts).filter(([, n]) => n > 0);

test('real H200, --format=csv with header and units: every line a sample, nothing dropped', () => {
  const p = new NvSmiParser();
  const samples = parseAll(p, lines('query-identity-header-units.csv'));
  assert.equal(samples.length, lines('query-identity-header-units.csv').length - 1);
  assert.deepEqual(nonZero(p), []);
  for (const s of samples) {
    assert.equal(s.name, 'NVIDIA H200');
    assert.equal(s.uuid, UUID);
    assert.equal(s.energyJ, undefined);
    assert.ok(s.powerW! > 50 && s.powerW! < 800);
  }
});

test('real H200, the collector query without the energy counter: every line a sample, nothing dropped', () => {
  const p = new NvSmiParser({ fields: QUERY });
  const text = lines('query-identity-noheader-nounits.csv');
  const samples = parseAll(p, text);
  assert.equal(samples.length, text.length);
  assert.deepEqual(nonZero(p), []);
  assert.ok(samples.some((s) => s.utilGpu! > 0.1) && samples.some((s) => s.utilGpu === 0));
});

/** The same two models decoding batches of 16 requests (vectors/real-h200-batch16/README.md). */
const batched = new URL('./vectors/real-h200-batch16/', import.meta.url);

interface WorkloadRequest {
  variant: string;
  start_ms: number;
  end_ms: number;
  completion_tokens: number;
}

for (const [label, from] of [
  ['one request at a time', dir],
  ['batches of 16', batched],
] as const) {
  test(`real H200, ${label}: the 7B-shaped model draws more power and energy per token than the 1.1B one`, () => {
    const p = new NvSmiParser({ fields: QUERY });
    // Requests were timed by the workload's wall clock, samples by nvidia-smi's (same host, UTC).
    const samples = parseAll(p, lines('query-identity-noheader-nounits.csv', from)).map((s) => ({
      ...s,
      t: s.toolTime!,
    }));
    assert.deepEqual(nonZero(p), []);
    const spans = lines('requests.jsonl', from).map((l, i) => {
      const r = JSON.parse(l) as WorkloadRequest;
      return { id: `${r.variant}-${i}`, start: r.start_ms, end: r.end_ms, outputTokens: r.completion_tokens };
    });
    const f = requestFeatures(samples, spans);
    const by = (variant: string) =>
      spans
        .filter((s) => s.id.startsWith(variant))
        .map((s) => {
          const r = f.get(s.id)!;
          assert.ok(r.ok, `${s.id}: ${JSON.stringify(r)}`);
          assert.equal(r.features.energySource, 'power');
          return r.features;
        });
    const honest = by('honest');
    const cheap = by('cheap');
    assert.ok(honest.length >= 5 && cheap.length >= 5, `${honest.length} honest, ${cheap.length} cheap`);
    const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    assert.ok(
      Math.min(...honest.map((x) => x.meanPowerW)) > Math.max(...cheap.map((x) => x.meanPowerW)),
      'every honest request draws more mean power than any cheap one',
    );
    const ratio = median(honest.map((x) => x.energyPerToken)) / median(cheap.map((x) => x.energyPerToken));
    assert.ok(ratio > 1.3, `energy per token, honest/cheap medians: ${ratio}`);
  });
}

function fakeChild(text: string, exitAfter: boolean): ChildLike {
  const child = new EventEmitter() as EventEmitter & ChildLike;
  const stdout = new PassThrough();
  Object.assign(child, { stdout, kill: () => true });
  setImmediate(() => {
    stdout.write(text);
    if (exitAfter) setImmediate(() => child.emit('exit', 1, null));
  });
  return child;
}

test('a field the driver refuses is dropped from the query and the stream goes on without it', async () => {
  const launches: string[][] = [];
  const data = lines('query-identity-noheader-nounits.csv').slice(0, 5);
  let samples = 0;
  let done!: () => void;
  const flowing = new Promise<void>((r) => {
    done = r;
  });
  const c = new NvSmiCollector({
    restartDelayMs: 1,
    silenceTimeoutMs: 3_600_000,
    spawn: (_cmd, args) => {
      launches.push([...args]);
      return launches.length === 1
        ? fakeChild(read('refused-field.txt'), true) // exactly what driver 580 printed
        : fakeChild(`${data.join('\n')}\n`, false);
    },
    onSample: (s) => {
      assert.equal(s.energyJ, undefined);
      assert.ok(s.powerW! > 0);
      if (++samples === data.length) done();
    },
  });
  c.start();
  await flowing;
  c.stop();
  assert.equal(launches.length, 2);
  assert.ok(launches[0]![0]!.includes('total_energy_consumption'));
  assert.equal(launches[1]![0], `--query-gpu=${QUERY.join(',')}`);
  assert.deepEqual(c.fields, QUERY);
  assert.equal(c.parser.counts.counts['field-unsupported'], 1);
  assert.equal(c.parser.counts.counts['missing-column'], 0);
});

test('a refusal of a field the query cannot go without leaves the query as it is', async () => {
  let launches = 0;
  let relaunched!: () => void;
  const second = new Promise<void>((r) => {
    relaunched = r;
  });
  const c = new NvSmiCollector({
    restartDelayMs: 1,
    silenceTimeoutMs: 3_600_000,
    onSample: () => undefined,
    spawn: () => {
      if (++launches === 2) relaunched();
      return fakeChild('Field "timestamp" is not a valid field to query.\n\n', launches === 1);
    },
  });
  c.start();
  await second;
  c.stop();
  assert.deepEqual(c.fields, DEFAULT_NVSMI_QUERY);
  assert.equal(c.parser.counts.counts['field-unsupported'], 0);
});
