import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import {
  type ChildLike,
  type GpuSample,
  NvSmiCollector,
  ProcSampler,
  type SpawnFn,
  scrapeDcgm,
} from '@tmb/agent/telemetry';

const FAKE = new URL('fake-nvidia-smi.ts', import.meta.url).pathname;
const vector = (name: string) => readFileSync(new URL(`vectors/${name}`, import.meta.url), 'utf8');

class FakeChild extends EventEmitter implements ChildLike {
  stdout = new PassThrough();
  killed: (NodeJS.Signals | number | undefined)[] = [];
  kill(signal?: NodeJS.Signals | number): boolean {
    this.killed.push(signal);
    setImmediate(() => this.emit('exit', null, signal));
    return true;
  }
}

const until = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
};

test('the collector runs nvidia-smi with the streaming query and restarts it when it exits', async () => {
  const children: FakeChild[] = [];
  const calls: string[][] = [];
  const spawnFn: SpawnFn = (cmd, args) => {
    calls.push([cmd, ...args]);
    const c = new FakeChild();
    children.push(c);
    return c;
  };
  const got: GpuSample[] = [];
  const c = new NvSmiCollector({
    onSample: (s) => got.push(s),
    fields: ['index', 'power.draw'],
    spawn: spawnFn,
    restartDelayMs: 5,
  });
  c.start();
  assert.deepEqual(calls[0], [
    'nvidia-smi',
    '--query-gpu=index,power.draw',
    '--format=csv,noheader,nounits',
    '-lms',
    '100',
  ]);
  children[0]!.stdout.write('0, 61.00\n0, 6');
  children[0]!.stdout.write('2.00\n0, NaN\n');
  // The NaN line is kept without its power reading.
  await until(() => got.length === 3);
  children[0]!.emit('exit', 1, null);
  await until(() => children.length === 2);
  children[1]!.stdout.write('0, 63.00\n');
  await until(() => got.length === 4);
  c.stop();
  assert.deepEqual(
    got.map((s) => s.powerW),
    [61, 62, undefined, 63],
  );
  assert.deepEqual(c.parser.counts.nonZero(), { 'not-a-number': 1, 'tool-restart': 1 });
  assert.deepEqual(children[1]!.killed, ['SIGTERM']);
});

test('a silent tool is killed after the timeout and restarted', async () => {
  const children: FakeChild[] = [];
  const c = new NvSmiCollector({
    onSample: () => {},
    spawn: () => {
      const ch = new FakeChild();
      children.push(ch);
      return ch;
    },
    silenceTimeoutMs: 40,
    restartDelayMs: 5,
  });
  c.start();
  await until(() => children.length >= 2);
  c.stop();
  assert.deepEqual(children[0]!.killed, ['SIGKILL']);
  assert.ok(c.parser.counts.counts.timeout >= 1);
  assert.ok(c.parser.counts.counts['tool-restart'] >= 1);
});

test('a real child process (the fake nvidia-smi) streams samples at its -lms period', async () => {
  const got: GpuSample[] = [];
  const c = new NvSmiCollector({
    onSample: (s) => got.push(s),
    intervalMs: 20,
    spawn: (_cmd, args) => spawn(process.execPath, [FAKE, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }),
  });
  c.start();
  await until(() => got.length >= 5);
  c.stop();
  assert.ok(got.every((s) => s.powerW! >= 400 && s.energyJ! > 319159 && s.utilGpu! >= 90));
  assert.ok(got.every((s, i) => i === 0 || s.energyJ! > got[i - 1]!.energyJ!));
  assert.equal(c.parser.counts.total(), 0);
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}/metrics`, server };
}

test('dcgm scrape: samples, timeout, size bound, bad status', async () => {
  const body = vector('dcgm-exporter.prom');
  const ok = await serve((_q, r) => r.end(body));
  const hang = await serve(() => {});
  const huge = await serve((_q, r) => r.end('#'.repeat(10_000)));
  const err = await serve((_q, r) => {
    r.statusCode = 500;
    r.end('no');
  });
  try {
    const a = await scrapeDcgm({ url: ok.url, now: () => 7 });
    assert.deepEqual(
      a.samples.map((s) => [s.gpu, s.powerW, s.t]),
      [
        [0, 409.692, 7],
        [1, 23.528, 7],
      ],
    );
    assert.deepEqual((await scrapeDcgm({ url: hang.url, timeoutMs: 50 })).counts.nonZero(), { timeout: 1 });
    assert.deepEqual((await scrapeDcgm({ url: huge.url, maxBytes: 1000 })).counts.nonZero(), {
      'too-large': 1,
    });
    assert.deepEqual((await scrapeDcgm({ url: err.url })).counts.nonZero(), { 'fetch-failed': 1 });
  } finally {
    for (const s of [ok, hang, huge, err]) {
      s.server.closeAllConnections();
      s.server.close();
    }
  }
});

test('proc sampler reads CPU time and RSS; a vanished process is counted', async () => {
  const files: Record<string, string> = {
    '/proc/19678/stat': vector('proc-stat-sleep.txt'),
    '/proc/19678/status': vector('proc-status-sleep.txt'),
  };
  const p = new ProcSampler({
    pid: 19678,
    now: () => 1,
    readFile: async (path) => {
      const f = files[path];
      if (f === undefined) throw new Error('ENOENT');
      return f;
    },
  });
  assert.deepEqual(await p.sample(), { t: 1, pid: 19678, cpuSeconds: 0, rssBytes: 1776 * 1024 });
  const gone = new ProcSampler({ pid: 1 << 30 });
  assert.equal(await gone.sample(), undefined);
  assert.deepEqual(gone.counts.nonZero(), { 'fetch-failed': 1 });
  const self = await new ProcSampler({ pid: process.pid }).sample();
  assert.ok(self !== undefined && self.rssBytes > 1 << 20 && self.cpuSeconds > 0);
});
