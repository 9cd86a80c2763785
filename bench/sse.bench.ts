/**
 * SSE events per second through the agent vs direct: one streamed completion of 100,000 small
 * events (`ignore_eos`, tokenLatencyMs 0), so the sample server sends as fast as the reader
 * takes them, read with node:http to its end. Five rounds each, alternating; the median round
 * of each side is reported. Bounded: 12 streams of 100,000 events, a few seconds in all.
 */
import { Agent as HttpAgent } from 'node:http';
import type { BenchRecord } from './record.ts';
import { BENCH_MODEL, send, startPair } from './servers.ts';

const EVENTS = 100_000; // the sample server's MAX_COMPLETION_TOKENS
const ROUNDS = 5;
const BODY = Buffer.from(
  JSON.stringify({
    model: BENCH_MODEL,
    prompt: 'stream',
    max_tokens: EVENTS,
    ignore_eos: true,
    stream: true,
  }),
);

async function rate(agent: HttpAgent, url: string): Promise<number> {
  const r = await send(agent, url, '/v1/completions', BODY);
  // tokens, the finish chunk and [DONE]
  if (r.status !== 200 || r.events !== EVENTS + 2)
    throw new Error(`sse bench: ${url} sent ${r.events} events, status ${r.status}`);
  return r.events / (r.ms / 1000);
}

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Yields events/s through the agent (baseline: direct) and their ratio. */
export async function* run(): AsyncGenerator<BenchRecord> {
  const pair = await startPair();
  const sockets = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  try {
    await rate(sockets, pair.direct); // warm-up
    await rate(sockets, pair.agent);
    const direct: number[] = [];
    const through: number[] = [];
    // Busy time of the agent's loop per event relayed, against the sample server's per event sent
    // directly: what relaying costs, apart from how the shared cores were divided.
    let agentBusy = 0;
    let sampleBusy = 0;
    // Thread CPU time (user + system) per event: the same, without time lost to other processes.
    let agentCpu = 0;
    let sampleCpu = 0;
    const timed = async (url: string, into: number[]) => {
      const a0 = pair.busy.agent();
      const s0 = pair.busy.sample();
      const ac0 = await pair.cpu.agent();
      const sc0 = await pair.cpu.sample();
      into.push(await rate(sockets, url));
      if (url === pair.agent) {
        agentBusy += pair.busy.agent() - a0;
        agentCpu += (await pair.cpu.agent()) - ac0;
      } else {
        sampleBusy += pair.busy.sample() - s0;
        sampleCpu += (await pair.cpu.sample()) - sc0;
      }
    };
    for (let round = 0; round < ROUNDS; round++) {
      if (round % 2 === 0) {
        await timed(pair.direct, direct);
        await timed(pair.agent, through);
      } else {
        await timed(pair.agent, through);
        await timed(pair.direct, direct);
      }
    }
    const d = median(direct);
    const a = median(through);
    yield {
      bench: 'sse',
      metric: 'events_per_s',
      value: Math.round(a),
      unit: 'events/s',
      baseline: Math.round(d),
    };
    yield {
      bench: 'sse',
      metric: 'agent_busy_per_event',
      value: Math.round(((agentBusy * 1000) / (ROUNDS * (EVENTS + 2))) * 1000) / 1000,
      unit: 'us',
      baseline: Math.round(((sampleBusy * 1000) / (ROUNDS * (EVENTS + 2))) * 1000) / 1000,
    };
    yield {
      bench: 'sse',
      metric: 'agent_cpu_per_event',
      value: Math.round((agentCpu / (ROUNDS * (EVENTS + 2))) * 1000) / 1000,
      unit: 'us',
      baseline: Math.round((sampleCpu / (ROUNDS * (EVENTS + 2))) * 1000) / 1000,
    };
    yield {
      bench: 'sse',
      metric: 'events_ratio',
      value: Math.round((a / d) * 1000) / 1000,
      unit: 'ratio',
      baseline: null,
    };
    // The name issue 12 gives the target (>= 0.9): the same figure as events_ratio.
    yield {
      bench: 'sse',
      metric: 'sse_ratio',
      value: Math.round((a / d) * 1000) / 1000,
      unit: 'ratio',
      baseline: null,
    };
  } finally {
    sockets.destroy();
    await pair.close();
  }
}
