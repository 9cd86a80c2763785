/**
 * A load thread of the scale bench: the simulated agents of one TPM (one swtpm connection),
 * spread over the verifier processes (agent i talks to verifier i mod V, as a load balancer
 * that keeps an agent on one process would). Messages from the parent: `enrol` (every agent,
 * at most ENROL_PARALLEL at once), `run` (the measured phase), `close`. Each answer is posted
 * back with the same `kind`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SimAgent } from './agent.ts';
import { Http } from './http.ts';
import { SimKernel } from './kernel.ts';
import { emptyLoadResult, type LoadResult } from './result.ts';
import { TpmSocket } from './tpm.ts';
import type { TpmHost } from './tpms.ts';

/** What the parent gives a load thread. */
export interface LoadJob {
  host: TpmHost;
  verifiers: string[];
  agents: { name: string; token: string }[];
}

/** The measured phase's parameters. */
export interface RunPlan {
  seconds: number;
  /** Receipts each agent pushes per cycle (one cycle a second). */
  receiptsPerCycle: number;
  /** One verdict read for every `verdictEvery` accepted cycles (0: none). */
  verdictEvery: number;
  /** Kernel IMA entries this host's simulated kernel logs (and extends) a second while the plan runs. */
  kernelRate?: number;
  /**
   * Run the cycle of each agent not yet accepted once (a warm-up round), however long that takes
   * (`seconds` is then ignored).
   */
  once?: boolean;
  /** Most cycles in flight at once (default MAX_IN_FLIGHT). */
  inFlight?: number;
}

/** The receipts capacity phase (`--receipts-phase`): receipt pushes only, as fast as they are taken. */
export interface PushPlan {
  seconds: number;
  /** Receipts per POST /v1/receipts. */
  batch: number;
  /** Pushes in flight at once from this thread (each agent has at most one). */
  inFlight: number;
}

const ENROL_PARALLEL = 8;
/** Most cycles in flight at once per thread: past it, due cycles wait (and count late). */
const MAX_IN_FLIGHT = 256;

const job = workerData as LoadJob;
const tpm = await TpmSocket.open(job.host.port);
// As many sockets as cycles in flight: each simulated agent has its own connection, as a host's
// agent has, so requests queue at the verifier, not in this thread. Verdict reads and their
// /healthz baseline go over a pool of their own, as a client's would.
const http = job.verifiers.map((u) => new Http(u, MAX_IN_FLIGHT));
const reads = job.verifiers.map((u) => new Http(u, 4));
const steps: Record<string, number> = {};
// The host's kernel log, shared by its agents as one host's kernel is by its processes.
const boot = job.host.boot;
const kernel = boot === null ? null : new SimKernel(boot.entries, boot.pcr10);
const agents = job.agents.map(
  (a, i) => new SimAgent({ ...a, tpm, host: job.host, http: http[i % http.length]!, steps, kernel }),
);

/**
 * Logs `rate` kernel entries a second (spread over the second) until the returned stop is
 * called, which resolves once every extend is done (and sets `out.pcr10`).
 */
function growKernel(rate: number, out: LoadResult): () => Promise<void> {
  const pending = new Set<Promise<void>>();
  const timer =
    kernel === null || rate <= 0
      ? null
      : setInterval(() => {
          const p = kernel.grow(tpm).catch((e: unknown) => {
            if (out.errors.length < 20) out.errors.push(`kernel extend: ${String(e).slice(0, 200)}`);
          });
          pending.add(p);
          void p.finally(() => pending.delete(p));
        }, 1000 / rate);
  return async () => {
    if (timer !== null) clearInterval(timer);
    await Promise.all(pending);
    out.pcr10 = kernel === null ? null : Buffer.from(kernel.pcr10).toString('hex');
  };
}

async function enrolAll(): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < agents.length) await agents[next++]!.enrol();
  };
  await Promise.all(Array.from({ length: ENROL_PARALLEL }, lane));
}

/** A verdict read of one of `a`'s receipts, then /healthz on the same verifier (the baseline). */
async function readVerdict(a: SimAgent, h: Http, out: LoadResult): Promise<void> {
  const id = a.ids[Math.floor(Math.random() * a.ids.length)];
  if (id === undefined) return;
  const v = await h.request('GET', `/v1/receipts/${id}`, null);
  const hz = await h.request('GET', '/healthz', null);
  out.verdictMs.push(v.ms);
  out.healthMs.push(hz.ms);
  let verdict: { level?: unknown; checks?: { name: string; status: string; code?: string }[] } = {};
  try {
    verdict = (JSON.parse(v.body) as { verdict?: typeof verdict }).verdict ?? {};
  } catch {
    verdict = {};
  }
  const notPassed = (verdict.checks ?? [])
    .filter((c) => c.status !== 'pass')
    .map((c) => `${c.name}:${c.status}${c.code ? `:${c.code}` : ''}`);
  out.verdicts.push({
    status: v.status,
    level: typeof verdict.level === 'string' ? verdict.level : null,
    notPassed,
    ...(v.status === 200 ? {} : { body: v.body.slice(0, 300) }),
  });
}

/** Agents with an accepted evidence: a warm-up round (`once`) skips them. */
const warmed = new Array<boolean>(agents.length).fill(false);

/** Every agent cycles once a second, agent j at offset j/n of the second, for `plan.seconds`. */
async function runPlan(plan: RunPlan): Promise<LoadResult> {
  const out = emptyLoadResult(steps);
  for (const k of Object.keys(steps)) delete steps[k];
  const n = agents.length;
  const t0 = performance.now();
  const end = t0 + plan.seconds * 1000;
  const busy = new Array<boolean>(n).fill(false);
  const running = new Set<Promise<void>>();
  let sinceVerdict = 0;
  const start = (j: number) => {
    busy[j] = true;
    const a = agents[j]!;
    const p = a
      .cycle(plan.receiptsPerCycle)
      .then(async (r) => {
        out.cycles++;
        if (r.ok) {
          warmed[j] = true;
          out.accepted++;
          out.receipts += r.receipts;
          out.kernelEntries += r.kernelEntries;
          if (plan.verdictEvery > 0 && ++sinceVerdict >= plan.verdictEvery) {
            sinceVerdict = 0;
            await readVerdict(a, reads[j % reads.length]!, out);
          }
        } else if (out.refusals.length < 20) out.refusals.push({ status: r.status, body: r.body });
      })
      .catch((e: unknown) => {
        if (out.errors.length < 20) out.errors.push(String(e).slice(0, 300));
      })
      .finally(() => {
        busy[j] = false;
        running.delete(p);
      });
    running.add(p);
  };
  // Cycle k of agent j is due at t0 + k s + j/n s: one pointer walks them in time order.
  let k = 0;
  let j = 0;
  const dueAt = () => t0 + k * 1000 + (j / n) * 1000;
  const once = plan.once === true;
  const limit = plan.inFlight ?? MAX_IN_FLIGHT;
  const stopGrowing = growKernel(plan.kernelRate ?? 0, out);
  while (once ? k < 1 : performance.now() < end) {
    const now = performance.now();
    while (dueAt() <= now && (once ? k < 1 : dueAt() < end) && running.size < limit) {
      if (busy[j]) out.late++;
      else if (!(once && warmed[j])) start(j);
      if (++j === n) {
        j = 0;
        k++;
      }
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(running);
  await stopGrowing();
  return out;
}

/**
 * `plan.inFlight` lanes, each pushing the next idle agent's batch as soon as its last push is
 * answered, until `plan.seconds` have passed. `cycles` counts pushes, `accepted` those taken.
 */
async function pushPlan(plan: PushPlan): Promise<LoadResult> {
  const out = emptyLoadResult();
  const end = performance.now() + plan.seconds * 1000;
  const busy = new Array<boolean>(agents.length).fill(false);
  let next = 0;
  const lane = async () => {
    while (performance.now() < end) {
      let j = next;
      while (busy[j]) j = (j + 1) % agents.length;
      next = (j + 1) % agents.length;
      busy[j] = true;
      try {
        const r = await agents[j]!.push(plan.batch);
        out.cycles++;
        if (r.ok) {
          out.accepted++;
          out.receipts += plan.batch;
        } else if (out.refusals.length < 20) out.refusals.push({ status: r.status, body: r.body });
      } catch (e) {
        if (out.errors.length < 20) out.errors.push(String(e).slice(0, 300));
      } finally {
        busy[j] = false;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(plan.inFlight, agents.length) }, lane));
  return out;
}

parentPort!.on(
  'message',
  async (
    m:
      | { kind: 'enrol' }
      | { kind: 'run'; plan: RunPlan }
      | { kind: 'push'; plan: PushPlan }
      | { kind: 'close' },
  ) => {
    try {
      if (m.kind === 'enrol') {
        await enrolAll();
        parentPort!.postMessage({ kind: 'enrol' });
      } else if (m.kind === 'run') {
        parentPort!.postMessage({ kind: 'run', result: await runPlan(m.plan) });
      } else if (m.kind === 'push') {
        parentPort!.postMessage({ kind: 'push', result: await pushPlan(m.plan) });
      } else {
        for (const h of [...http, ...reads]) h.close();
        tpm.close();
        parentPort!.postMessage({ kind: 'close' });
      }
    } catch (err) {
      parentPort!.postMessage({ kind: 'error', error: String((err as Error)?.stack ?? err) });
    }
  },
);
parentPort!.postMessage({ kind: 'ready' });
