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

/** The cheap variant's energy per token as a fraction of the honest one's. */
export const CHEAP_ENERGY_FACTOR = 0.6;

/** Options of SimulatedGpu. */
export interface SimGpuOptions {
  variant: SampleVariant;
  /** The sample server's milliseconds per token for this variant (already scaled for cheap). */
  tokenLatencyMs: number;
  /** Honest energy per generated token, J. Default 0.5 (the cheap variant: x CHEAP_ENERGY_FACTOR). */
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

/**
 * The simulated device. Each request in flight adds, for its first token latency (prefill), a
 * fixed prefill power, then energy-per-token x the variant's nominal token rate (decode).
 * Energy is integrated exactly between state changes; power readings carry 3% noise.
 */
export class SimulatedGpu {
  readonly options: Required<SimGpuOptions>;
  readonly #ept: number;
  readonly #rng: Rng;
  readonly #inFlight = new Map<number, number>();
  #nextId = 0;
  #energyJ = 0;
  #last: number;

  constructor(options: SimGpuOptions) {
    this.options = {
      energyPerTokenJ: 0.5,
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

  /** A request arrived; returns the function that ends it. */
  begin(): () => void {
    this.#advance();
    const id = this.#nextId++;
    this.#inFlight.set(id, this.#last);
    return () => {
      if (!this.#inFlight.has(id)) return;
      this.#advance();
      this.#inFlight.delete(id);
    };
  }

  /** The state now, as nvidia-smi would report it. */
  read(): SimGpuReading {
    this.#advance();
    const now = this.#last;
    const p = this.#power(now);
    const busy = this.#inFlight.size > 0;
    const util = busy ? (this.options.variant === 'cheap' ? 70 : 93) : 0;
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

  /** Power at `now`, W: idle plus each request's prefill or decode power, capped. */
  #power(now: number): number {
    const o = this.options;
    const rate = o.tokenLatencyMs > 0 ? 1000 / o.tokenLatencyMs : Number.POSITIVE_INFINITY;
    let p = o.idleW;
    for (const start of this.#inFlight.values()) {
      const prefill = now - start < o.tokenLatencyMs;
      p += prefill ? 250 * (this.#ept / o.energyPerTokenJ) : this.#ept * rate;
    }
    return Math.min(p, o.powerLimitW);
  }

  /** Integrates energy up to now. Power is piecewise constant except at prefill ends. */
  #advance(): void {
    const now = this.options.now();
    let t = this.#last;
    if (now <= t) return;
    // Split at prefill ends inside (t, now] so the integral is exact.
    const cuts = [...this.#inFlight.values()]
      .map((s) => s + this.options.tokenLatencyMs)
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
