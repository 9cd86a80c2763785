/**
 * A SIMULATED GPU for the demo and tests: no hardware is read. Its power, energy counter,
 * utilization, memory and clocks are functions of what the sample model server is doing
 * (requests in flight) and of the variant: the cheap variant spends clearly less energy per
 * token (CHEAP_ENERGY_FACTOR) and runs at a lower utilization. It is read the way a real GPU is:
 * through a nvidia-smi-compatible program (demo/bin/nvidia-smi) that prints its state.
 */
import { createRng, type Rng } from '@tmb/stats';
import type { SampleVariant } from '../sample/options.ts';

/** The simulated device's name, as nvidia-smi would print it: says SIMULATED so nobody is misled. */
export const SIM_GPU_NAME = 'TMB SIMULATED GPU 80GB';

/**
 * The cheap variant's energy per token as a fraction of the honest one's. A real H200 gave
 * about this for a 1.1B model standing in for a 7B one (0.5 to 0.65, one request at a time and
 * in batches of 16: packages/agent/test/telemetry/vectors/real-h200/).
 */
export const CHEAP_ENERGY_FACTOR = 0.6;

/**
 * GPU utilization while busy, percent: the cheap variant's is 0.6 of the honest one's, as the
 * same H200 captures showed (the smaller model leaves the GPU idle more of each step).
 */
const BUSY_UTILIZATION = { honest: 93, cheap: 56 } as const;

/** Options of SimulatedGpu. */
export interface SimGpuOptions {
  variant: SampleVariant;
  /** The sample server's milliseconds per token for this variant (already scaled for cheap). */
  tokenLatencyMs: number;
  /** Honest energy per generated token, J. Default 1.5 (the cheap variant: x CHEAP_ENERGY_FACTOR). */
  energyPerTokenJ?: number;
  /** Power with nothing in flight, W. Default 60. */
  idleW?: number;
  /** Power limit, W (power is capped here, as a GPU caps it). Default 700. */
  powerLimitW?: number;
  /** Seed of the reading noise. Default 1. */
  seed?: number;
  /** Clock, ms (Unix time). Default performance.timeOrigin + performance.now(). */
  now?: () => number;
}

/** One reading, in nvidia-smi's units. */
export interface SimGpuReading {
  simulated: true;
  index: number;
  name: string;
  uuid: string;
  /** Unix ms of the reading. */
  time: number;
  powerW: number;
  powerInstantW: number;
  /** Cumulative energy since the simulation started, mJ (nvidia-smi total_energy_consumption). */
  energyMj: number;
  utilGpu: number;
  utilMem: number;
  memUsedMiB: number;
  memTotalMiB: number;
  smClockMHz: number;
  memClockMHz: number;
  tempC: number;
  powerLimitW: number;
}

/** A request in flight on the simulated GPU. */
export interface SimRequest {
  /** The answer is streamed (its first event was written): it draws no power per second from now on. */
  streamed(): void;
  /** A token was sent: its energy is spent now. */
  token(): void;
  /**
   * An answer that is not streamed will generate `tokens` over `durationMs` (nominal) from now:
   * their energy is spread evenly over that time, whatever time the answer then really takes.
   */
  generate(tokens: number, durationMs: number): void;
  /** The request ended (idempotent). */
  end(): void;
}

/** Options of SimulatedGpu.begin. */
export interface SimBeginOptions {
  /**
   * The request will describe its generation (streamed() and token(), or generate()): until it
   * does, it draws its prefill and nothing more. A sample server's /v1/chat/completions and
   * /v1/completions do; a loaded machine may read and parse their bodies long after they arrived,
   * and that wait is not GPU work (it was drawn as nominal decode, and a cheap stream whose first
   * event came late spent as much per token as an honest one). Default false: the nominal decode
   * power after its prefill, for as long as it runs.
   */
  generates?: boolean;
}

interface InFlight {
  start: number;
  tokens: number;
  streamed: boolean;
  /** SimBeginOptions.generates: no nominal decode power while undescribed. */
  generates: boolean;
  /** A non-streamed answer's generation: when, and its power while it runs. */
  gen?: { from: number; until: number; powerW: number };
}

/**
 * How long utilization (and the SM clock) keep reading the last work's level after the last
 * request ended, ms. A real reading is the busy share of a past sample period (1/6 s to 1 s), so
 * it shows work that just ended; the simulation holds it much longer on purpose: the agent's
 * window around a request opens before the GPU sees the request and closes after, by however
 * long a loaded CPU takes, and samples read idle there pulled an honest answer's mean
 * utilization down with the machine's load (from 93 % to 73 % in a demo round on this machine;
 * demo/test/gpu/load.test.ts). Held, utilization is the variant's (the work's), not the
 * scheduler's, for any answer within 10 s of the one before.
 */
export const UTIL_HOLD_MS = 10_000;

/** Time constant of the reported power's smoothing of per-token energy, ms. */
const POWER_TAU_MS = 100;

/**
 * The simulated device. Each request in flight draws a fixed prefill power for its first token
 * latency; then every token it sends spends the variant's energy per token at that moment, plus
 * the idle power over one nominal token latency (no idle power is drawn per second while a
 * request streams), so energy per token follows the tokens actually generated however the
 * machine's timers run. A streamed answer draws nothing per second after its prefill, also
 * while it waits for its first token (a loaded machine delays that token; it must not make
 * the request look costlier per token). A request that is not streamed (a JSON answer) spends
 * the same energy per token spread over its nominal generation time (generate()). A request
 * begun with `generates` draws only its prefill until it says how it generates (however long a
 * loaded machine takes to read and parse its body); one begun without it that the sample server
 * never described draws, after its prefill, energy per token x the variant's nominal token rate
 * for as long as it runs. The energy counter integrates all of that work exactly and nothing
 * else: the idle power (drawn while nothing is in flight) shows in the power readings but not in
 * the counter, so the counter is a function of the work done (requests, tokens, the variant), not
 * of how long a loaded machine's CPU takes around it. Power readings (per-token energy smoothed
 * over 100 ms, plus the continuous part, plus idle when nothing is in flight) carry 3% noise
 * from the seeded generator.
 */
export class SimulatedGpu {
  readonly options: Required<SimGpuOptions>;
  readonly #ept: number;
  readonly #rng: Rng;
  readonly #inFlight = new Set<InFlight>();
  #energyJ = 0;
  #last: number;
  /** Smoothed power of per-token energy, W, as of #rateAt. */
  #rate = 0;
  #rateAt = 0;
  /** When the last request in flight ended (utilization holds UTIL_HOLD_MS after it). */
  #idleSince = Number.NEGATIVE_INFINITY;

  constructor(options: SimGpuOptions) {
    this.options = {
      energyPerTokenJ: 1.5,
      idleW: 60,
      powerLimitW: 700,
      seed: 1,
      now: () => performance.timeOrigin + performance.now(),
      ...options,
    };
    const f = options.variant === 'cheap' ? CHEAP_ENERGY_FACTOR : 1;
    this.#ept = this.options.energyPerTokenJ * f;
    this.#rng = createRng(this.options.seed);
    this.#last = this.options.now();
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** A request arrived. */
  begin(o: SimBeginOptions = {}): SimRequest {
    this.#advance();
    const r: InFlight = { start: this.#last, tokens: 0, streamed: false, generates: o.generates ?? false };
    this.#inFlight.add(r);
    return {
      streamed: () => {
        if (!this.#inFlight.has(r) || r.streamed) return;
        this.#advance();
        r.streamed = true;
      },
      token: () => {
        if (!this.#inFlight.has(r)) return;
        this.#advance();
        r.tokens++;
        // Per token: the variant's energy, plus the static (idle) power over one nominal token
        // latency, shared by the requests streaming now (#power draws no idle while any does).
        r.streamed = true;
        const streaming = [...this.#inFlight].filter((x) => x.streamed).length;
        const j = this.#ept + (this.options.idleW * this.options.tokenLatencyMs) / 1000 / streaming;
        this.#energyJ += j;
        const now = this.#last;
        this.#rate = this.#rate * Math.exp(-(now - this.#rateAt) / POWER_TAU_MS) + (j * 1000) / POWER_TAU_MS;
        this.#rateAt = now;
      },
      generate: (tokens, durationMs) => {
        if (!this.#inFlight.has(r) || r.streamed || r.gen !== undefined) return;
        this.#advance();
        const o = this.options;
        // What it drew undescribed since its prefill (nominal decode power, none when begun with
        // `generates`) counts towards it, so a body that a loaded machine parses late costs no more.
        const rate = o.tokenLatencyMs > 0 ? 1000 / o.tokenLatencyMs : 0;
        const undescribedMs = r.generates ? 0 : Math.max(0, this.#last - r.start - o.tokenLatencyMs);
        const drawn = (undescribedMs * this.#ept * rate) / 1000;
        const j = Math.max(0, tokens * (this.#ept + (o.idleW * o.tokenLatencyMs) / 1000) - drawn);
        if (!(durationMs > 0)) {
          this.#energyJ += j; // nothing to spread it over
          r.gen = { from: this.#last, until: this.#last, powerW: 0 };
          return;
        }
        r.gen = { from: this.#last, until: this.#last + durationMs, powerW: (j * 1000) / durationMs };
      },
      end: () => {
        if (!this.#inFlight.has(r)) return;
        this.#advance();
        this.#inFlight.delete(r);
        if (this.#inFlight.size === 0) this.#idleSince = this.#last;
      },
    };
  }

  /** The state now, as nvidia-smi would report it. */
  read(): SimGpuReading {
    this.#advance();
    const now = this.#last;
    const working = this.#inFlight.size > 0;
    const busy = working || now - this.#idleSince < UTIL_HOLD_MS;
    const p = Math.min(
      this.options.powerLimitW,
      (working ? 0 : this.options.idleW) +
        this.#power(now) +
        this.#rate * Math.exp(-(now - this.#rateAt) / POWER_TAU_MS),
    );
    const util = busy ? BUSY_UTILIZATION[this.options.variant] : 0;
    const noisy = (x: number, sd: number) => Math.max(0, x * (1 + sd * this.#rng.normal()));
    return {
      simulated: true,
      index: 0,
      name: SIM_GPU_NAME,
      uuid: `GPU-5151a7ed-0000-4000-8000-${this.options.variant === 'cheap' ? '00000000c4ea' : '00000000b0e5'}`,
      time: now,
      powerW: round2(noisy(p, 0.03)),
      powerInstantW: round2(noisy(p, 0.03)),
      energyMj: Math.floor(this.#energyJ * 1000),
      utilGpu: busy ? Math.min(100, Math.max(0, Math.round(util + 2 * this.#rng.normal()))) : 0,
      utilMem: busy ? Math.round(util / 2) : 0,
      // An engine pre-allocates about 90% of memory whatever it serves (docs/telemetry.md).
      memUsedMiB: 73_412,
      memTotalMiB: 81_559,
      smClockMHz: busy ? 1980 : 345,
      memClockMHz: 2619,
      tempC: Math.round(32 + p / 25),
      powerLimitW: this.options.powerLimitW,
    };
  }

  /**
   * Continuous power of work at `now`, W: prefill, non-streamed generation and the nominal decode
   * of token-less requests; what the energy counter integrates. Idle power is not in it (read()
   * reports it): the agent's window around a request opens before the GPU sees it and closes
   * after, by however long a loaded CPU takes, and idle energy counted there made a starved
   * honest host look 15 to 30 % costlier per token (demo/test/gpu/load.test.ts).
   */
  #power(now: number): number {
    const o = this.options;
    const rate = o.tokenLatencyMs > 0 ? 1000 / o.tokenLatencyMs : Number.POSITIVE_INFINITY;
    // While a request streams tokens, static power is charged per token at the nominal latency
    // (token()), not per second: a request the machine's timers stretch does not spend more
    // energy per token than one they did not (it did, and the cheap stand-in then looked honest).
    // Static power is charged per token while any request is in flight (token(), generate()).
    let p = 0;
    for (const r of this.#inFlight) {
      // Prefill: a fixed power for one nominal token latency, so a fixed energy per request.
      const prefill = now - r.start < o.tokenLatencyMs;
      if (prefill) p += 250 * (this.#ept / o.energyPerTokenJ);
      if (r.gen !== undefined) {
        if (now >= r.gen.from && now < r.gen.until) p += r.gen.powerW;
      } else if (!prefill && !r.streamed && !r.generates) p += this.#ept * rate;
    }
    return Math.min(p, o.powerLimitW);
  }

  /** Integrates the continuous power up to now, split at prefill ends so the integral is exact. */
  #advance(): void {
    const now = this.options.now();
    let t = this.#last;
    if (now <= t) return;
    const cuts = [...this.#inFlight]
      .flatMap((r) => [r.start + this.options.tokenLatencyMs, ...(r.gen ? [r.gen.from, r.gen.until] : [])])
      .filter((c) => c > t && c < now)
      .sort((a, b) => a - b);
    for (const c of [...cuts, now]) {
      this.#energyJ += (this.#power((t + c) / 2) * (c - t)) / 1000;
      t = c;
    }
    this.#last = now;
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
