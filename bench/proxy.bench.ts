/**
 * Added latency through the agent: non-streaming chat completions with ~1 KiB request bodies,
 * sent with node:http over keep-alive sockets at concurrency 1, 16 and 64, to the sample model
 * server (tokenLatencyMs 0) directly (baseline) and through an agent in front of it. The sample
 * server and the agent each run in their own thread. Direct and agent phases alternate so that
 * noise from the shared machine falls on both. Bounded: at most 2,000 requests or 2.5 s a phase.
 *
 * `added_*` is the difference of the two percentiles, not a percentile of differences.
 * `agent_busy_per_request_*` (event-loop time) and `agent_cpu_per_request_*` (thread CPU time,
 * which a shared machine's other processes do not inflate) are the agent's cost per request
 * against the sample server's per direct request.
 *
 * Then requests/s at 32 closed-loop clients direct, through nginx (Debian's, demo/src/lb/nginx.ts, in
 * front of the same sample server) and through the agent, every response receipted (checked on
 * the agent's /metrics): `rps_ratio_agent_nginx_c32` (target >= 0.5) and `rps_ratio_nginx_direct_c32`.
 * Without nginx, one `nginx.skipped` line says how to install it and the baseline is left out.
 *
 * `--cpu-prof DIR` (`npm run bench -- proxy --cpu-prof DIR`): after the measured rounds at 16
 * clients, one more agent phase runs under a V8 CPU profile of the agent's thread, written to
 * DIR/agent-c16.cpuprofile; its top functions by self time and by project frame, and the
 * inclusive share of the agent's steps, go to standard error. The measured figures never include
 * the profiler's own cost.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Agent as HttpAgent } from 'node:http';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findNginx, NGINX_INSTALL_HINT, type RunningNginx, startNginx } from '@tmb/demo';
import { type BenchRecord, percentile } from './record.ts';
import { inclusiveShare, topSelfTime } from './scale/profile.ts';
import { BENCH_MODEL, receiptsIssued, send, startPair } from './servers.ts';

const LEVELS = [1, 16, 64] as const;
const ROUNDS = 2;
const PER_PHASE = 2_000;
const PHASE_MS = 2_500;
const PATH = '/v1/chat/completions';
const RPS_CLIENTS = 32;
const RPS_ROUNDS = 3;
const RPS_PER_PHASE = 10_000;

/** A chat request of exactly `size` bytes of JSON. */
export function requestBody(size = 1024): Buffer {
  const base = { model: BENCH_MODEL, max_tokens: 16, messages: [{ role: 'user', content: '' }] };
  const pad = size - Buffer.byteLength(JSON.stringify(base));
  base.messages[0]!.content = 'lorem ipsum dolor sit amet '.repeat(Math.ceil(pad / 27)).slice(0, pad);
  return Buffer.from(JSON.stringify(base));
}

/** Sends up to `count` requests (or for up to `ms`) from `concurrency` loops; returns latencies in ms. */
async function phase(
  agent: HttpAgent,
  url: string,
  body: Buffer,
  concurrency: number,
  count: number,
  ms: number,
  pacedRps = 0,
) {
  const latencies: number[] = [];
  const start = performance.now();
  const deadline = start + ms;
  let issued = 0;
  const loop = async (k: number) => {
    // Paced: loop k sends at start + (k + j * concurrency) / rate, or at once when running late.
    let j = 0;
    while (issued < count && performance.now() < deadline) {
      if (pacedRps > 0) {
        const due = start + ((k + j++ * concurrency) / pacedRps) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
      issued++;
      const r = await send(agent, url, PATH, body);
      if (r.status !== 200) throw new Error(`proxy bench: ${url}${PATH} answered ${r.status}`);
      latencies.push(r.ms);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, k) => loop(k)));
  return latencies;
}

/** Options from the command line; unknown flags are ignored (bench/run.ts passes every flag). */
export function proxyOptions(argv: string[]): { cpuProf?: string } {
  const { values } = parseArgs({
    args: argv,
    strict: false,
    allowPositionals: true,
    options: { 'cpu-prof': { type: 'string' } },
  });
  const dir = values['cpu-prof'];
  return typeof dir === 'string' ? { cpuProf: dir } : {};
}

/** Yields p50 and p99 (through the agent, with direct as baseline) and the added ms, per concurrency. */
export async function* run(
  options: { cpuProf?: string } = proxyOptions(process.argv.slice(2)),
): AsyncGenerator<BenchRecord> {
  const pair = await startPair();
  const body = requestBody();
  try {
    for (const c of LEVELS) {
      const sockets = {
        direct: new HttpAgent({ keepAlive: true, maxSockets: c }),
        agent: new HttpAgent({ keepAlive: true, maxSockets: c }),
      };
      const urls = { direct: pair.direct, agent: pair.agent };
      const samples = { direct: [] as number[], agent: [] as number[] };
      for (const t of ['direct', 'agent'] as const)
        await phase(sockets[t], urls[t], body, c, c * 20, PHASE_MS); // warm-up
      // Busy time of the agent's event loop per request through it, against the sample server's per
      // request sent to it directly: what the agent costs, without the queueing that a closed loop
      // on a shared 2-core machine adds to latency.
      // CPU time per request (thread CPU, user + system) says the same without the time a thread
      // waited for a core that another process held: the figure to compare builds on a shared machine.
      let agentBusy = 0;
      let sampleBusy = 0;
      let agentCpu = 0;
      let sampleCpu = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const order = round % 2 === 0 ? (['direct', 'agent'] as const) : (['agent', 'direct'] as const);
        for (const t of order) {
          const cpu = t === 'agent' ? pair.cpu.agent : pair.cpu.sample;
          const b0 = t === 'agent' ? pair.busy.agent() : pair.busy.sample();
          const c0 = await cpu();
          samples[t].push(...(await phase(sockets[t], urls[t], body, c, PER_PHASE, PHASE_MS)));
          const used = (await cpu()) - c0;
          if (t === 'agent') {
            agentBusy += pair.busy.agent() - b0;
            agentCpu += used;
          } else {
            sampleBusy += pair.busy.sample() - b0;
            sampleCpu += used;
          }
        }
      }
      if (c === 16 && options.cpuProf !== undefined)
        yield* profiled(options.cpuProf, pair, () =>
          phase(sockets.agent, urls.agent, body, c, PER_PHASE, PHASE_MS),
        );
      sockets.direct.destroy();
      sockets.agent.destroy();
      const d = samples.direct.sort((a, b) => a - b);
      const a = samples.agent.sort((a, b) => a - b);
      for (const p of [50, 99]) {
        const through = percentile(a, p);
        const direct = percentile(d, p);
        yield {
          bench: 'proxy',
          metric: `p${p}_c${c}`,
          value: round3(through),
          unit: 'ms',
          baseline: round3(direct),
        };
        yield {
          bench: 'proxy',
          metric: `added_p${p}_c${c}`,
          value: round3(through - direct),
          unit: 'ms',
          baseline: null,
        };
      }
      yield {
        bench: 'proxy',
        metric: `agent_busy_per_request_c${c}`,
        value: round3((agentBusy / samples.agent.length) * 1000),
        unit: 'us',
        baseline: round3((sampleBusy / samples.direct.length) * 1000),
      };
      yield {
        bench: 'proxy',
        metric: `agent_cpu_per_request_c${c}`,
        value: round3(agentCpu / samples.agent.length),
        unit: 'us',
        baseline: round3(sampleCpu / samples.direct.length),
      };
      yield {
        bench: 'proxy',
        metric: `requests_c${c}`,
        value: a.length,
        unit: 'requests',
        baseline: d.length,
      };
    }
    // The closed loops above saturate the shared cores, so their added latency is mostly queueing.
    // Here 16 clients share a paced 1,000 requests/s (below what either path sustains on this
    // machine): the added latency of a proxy that is not the bottleneck.
    const sockets = {
      direct: new HttpAgent({ keepAlive: true, maxSockets: 16 }),
      agent: new HttpAgent({ keepAlive: true, maxSockets: 16 }),
    };
    const paced = { direct: [] as number[], agent: [] as number[] };
    for (let round = 0; round < ROUNDS; round++)
      for (const t of round % 2 === 0 ? (['direct', 'agent'] as const) : (['agent', 'direct'] as const))
        paced[t].push(
          ...(await phase(
            sockets[t],
            t === 'direct' ? pair.direct : pair.agent,
            body,
            16,
            PER_PHASE,
            PHASE_MS,
            1000,
          )),
        );
    sockets.direct.destroy();
    sockets.agent.destroy();
    const pd = paced.direct.sort((a, b) => a - b);
    const pa = paced.agent.sort((a, b) => a - b);
    for (const p of [50, 99]) {
      yield {
        bench: 'proxy',
        metric: `p${p}_c16_paced_1000rps`,
        value: round3(percentile(pa, p)),
        unit: 'ms',
        baseline: round3(percentile(pd, p)),
      };
      yield {
        bench: 'proxy',
        metric: `added_p${p}_c16_paced_1000rps`,
        value: round3(percentile(pa, p) - percentile(pd, p)),
        unit: 'ms',
        baseline: null,
      };
    }
    yield* throughput(pair);
  } finally {
    await pair.close();
  }
}

type Target = 'direct' | 'nginx' | 'agent';
/** Per target: requests and ms of the measured rounds; `sent`: every 200 answer, warm-up included. */
type Done = { count: number; ms: number; sent: number };

/** Requests/s at 32 clients direct, through nginx (when installed) and through the agent; their ratios. */
async function* throughput(pair: { direct: string; agent: string }): AsyncGenerator<BenchRecord> {
  const bin = findNginx();
  if (bin === undefined)
    yield record('nginx.skipped', 1, `no nginx on PATH or in /usr/sbin: ${NGINX_INSTALL_HINT}`, null);
  const nginx: RunningNginx | undefined = bin === undefined ? undefined : await startNginx(pair.direct, bin);
  try {
    const urls = new Map<Target, string>([['direct', pair.direct]]);
    if (nginx !== undefined) urls.set('nginx', nginx.url);
    urls.set('agent', pair.agent);
    const receipts0 = await receiptsIssued(pair.agent);
    const done = await rpsRounds(urls);
    const receipts = (await receiptsIssued(pair.agent)) - receipts0;
    const rps = (t: Target) => (done.get(t)!.count / done.get(t)!.ms) * 1000;
    yield record(`rps_c${RPS_CLIENTS}`, Math.round(rps('agent')), 'requests/s', Math.round(rps('direct')));
    yield record(`receipts_c${RPS_CLIENTS}`, receipts, 'receipts', done.get('agent')!.sent);
    if (nginx !== undefined) {
      yield record(
        `rps_nginx_c${RPS_CLIENTS}`,
        Math.round(rps('nginx')),
        'requests/s',
        Math.round(rps('direct')),
      );
      yield record(
        `rps_ratio_agent_nginx_c${RPS_CLIENTS}`,
        round3(rps('agent') / rps('nginx')),
        'ratio',
        null,
      );
      yield record(
        `rps_ratio_nginx_direct_c${RPS_CLIENTS}`,
        round3(rps('nginx') / rps('direct')),
        'ratio',
        null,
      );
    }
    if (receipts !== done.get('agent')!.sent)
      throw new Error(
        `proxy bench: ${done.get('agent')!.sent} responses through the agent, ${receipts} receipts`,
      );
  } finally {
    await nginx?.close();
  }
}

/** A warm-up per target, then RPS_ROUNDS rounds, the order rotated each round; requests and ms per target. */
async function rpsRounds(urls: Map<Target, string>): Promise<Map<Target, Done>> {
  const targets = [...urls.keys()];
  const sockets = new Map(
    targets.map((t) => [t, new HttpAgent({ keepAlive: true, maxSockets: RPS_CLIENTS })]),
  );
  const done = new Map(targets.map((t) => [t, { count: 0, ms: 0, sent: 0 } as Done]));
  const body = requestBody();
  try {
    for (const t of targets)
      done.get(t)!.sent += (
        await phase(sockets.get(t)!, urls.get(t)!, body, RPS_CLIENTS, RPS_CLIENTS * 20, PHASE_MS)
      ).length;
    for (let round = 0; round < RPS_ROUNDS; round++) {
      const k = round % targets.length;
      for (const t of [...targets.slice(k), ...targets.slice(0, k)]) {
        const t0 = performance.now();
        const n = (await phase(sockets.get(t)!, urls.get(t)!, body, RPS_CLIENTS, RPS_PER_PHASE, PHASE_MS))
          .length;
        done.get(t)!.ms += performance.now() - t0;
        done.get(t)!.count += n;
        done.get(t)!.sent += n;
      }
    }
  } finally {
    for (const s of sockets.values()) s.destroy();
  }
  return done;
}

/** Functions whose inclusive share the profile report gives: the agent's steps per exchange. */
const STEPS = [
  'handleExchange',
  'readBody',
  'forward',
  'onResponseStart',
  'onResponseData',
  'onResponseEnd',
  'finish',
  'issue',
  '#commit',
  'encode',
  'signOneShot',
  'inCommit',
  'putLeaves',
  'writeHead',
  'parserOnIncoming',
  'parserOnHeadersComplete',
];

/**
 * Runs `load` (one agent phase) under a CPU profile of the agent's thread; writes it to
 * DIR/agent-c16.cpuprofile and prints its top functions to standard error.
 */
async function* profiled(
  dir: string,
  pair: { profileAgent(): Promise<{ stop(): Promise<string> }> },
  load: () => Promise<number[]>,
): AsyncGenerator<BenchRecord> {
  await mkdir(dir, { recursive: true });
  const handle = await pair.profileAgent();
  const t0 = performance.now();
  const n = (await load()).length;
  const ms = performance.now() - t0;
  const path = join(dir, 'agent-c16.cpuprofile');
  await writeFile(path, await handle.stop());
  const us = (share: number) => round3(((share / 100) * ms * 1000) / n);
  const out = [`proxy bench: agent CPU profile, 16 clients, ${n} requests in ${Math.round(ms)} ms: ${path}`];
  for (const by of ['self', 'project'] as const) {
    out.push(`  top by ${by} (% of samples, µs per request):`);
    for (const f of await topSelfTime(path, 25, by)) out.push(`    ${f.share}%  ${us(f.share)}  ${f.fn}`);
  }
  out.push('  inclusive (% of samples, µs per request):');
  for (const name of STEPS) {
    const share = await inclusiveShare(path, [name]);
    out.push(`    ${share}%  ${us(share)}  ${name}`);
  }
  process.stderr.write(`${out.join('\n')}\n`);
  yield record('profile_requests_c16', n, 'requests', null);
}

function record(metric: string, value: number, unit: string, baseline: number | null): BenchRecord {
  return { bench: 'proxy', metric, value, unit, baseline };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
