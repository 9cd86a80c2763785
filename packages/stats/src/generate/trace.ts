import type { RequestSpan, Sample } from '../features/types.ts';
import { createRng } from '../rng.ts';

/**
 * The ground truth a simulated model server runs with. Energy per token and tokens per second
 * vary per request as log-normals (prompt mix, cache hits, scheduling), so per-request
 * features are noisy the way real ones are; the numbers of CLAIMED_MODEL are of the order of a
 * 70B model at batch 1 on one H100, not a measurement.
 */
export interface ModelTruth {
  name: string;
  /** Median decode joules per output token. */
  energyPerToken: number;
  /** Per-request standard deviation of ln(energy per token). */
  energyPerTokenSigma: number;
  /** Median output tokens per second. */
  tokensPerSecond: number;
  tokensPerSecondSigma: number;
  /** Median time to first token, ms (log-normal, sd 0.3 in ln). */
  ttftMs: number;
  prefillPowerW: number;
  idlePowerW: number;
  powerLimitW: number;
  /** Per-sample GPU utilization while busy: beta(utilAlpha, utilBeta), in percent. */
  utilAlpha: number;
  utilBeta: number;
}

/** The claimed model of the detection benchmarks and tests. */
export const CLAIMED_MODEL: ModelTruth = {
  name: 'claimed',
  energyPerToken: 9,
  energyPerTokenSigma: 0.15,
  tokensPerSecond: 45,
  tokensPerSecondSigma: 0.1,
  ttftMs: 250,
  prefillPowerW: 520,
  idlePowerW: 70,
  powerLimitW: 700,
  utilAlpha: 18,
  utilBeta: 2,
};

/** A substitute drawing `factor` times the energy per token (same speed): a different model. */
export function substituteOf(m: ModelTruth, factor: number, name = `${m.name}x${factor}`): ModelTruth {
  return { ...m, name, energyPerToken: m.energyPerToken * factor, prefillPowerW: m.prefillPowerW * factor };
}

/** Options of generateTrace; every field has a default. */
export interface TraceOptions {
  /** PRNG seed; the same seed gives the same trace. Default 1. */
  seed?: number;
  /** Number of requests, served one after another. Default 100. */
  requests?: number;
  /** Sampling period, ms (nvidia-smi -lms 100). Default 100. */
  sampleMs?: number;
  /** Output tokens per request, uniform in [min, max]. Default [32, 256]. */
  outputTokens?: [number, number];
  /** Idle gap between requests, ms, uniform. Default [200, 800]. */
  gapMs?: [number, number];
  /** Relative sd of each power reading around the true power. Default 0.03. */
  powerNoise?: number;
  /** First request id number. Default 0. */
  firstId?: number;
}

/**
 * A noisy telemetry trace of `model` serving requests one at a time: samples every sampleMs
 * (±5 ms jitter) with a cumulative energy counter (exact integral of the true power, rounded
 * to the millijoule as nvidia-smi prints it), a power reading with relative noise, whole-percent
 * utilization and constant memory; and the request spans. Deterministic for a seed.
 */
export function generateTrace(
  model: ModelTruth,
  o: TraceOptions = {},
): { samples: Sample[]; spans: RequestSpan[] } {
  const rng = createRng(o.seed ?? 1);
  const count = o.requests ?? 100;
  const period = o.sampleMs ?? 100;
  const [tokMin, tokMax] = o.outputTokens ?? [32, 256];
  const [gapMin, gapMax] = o.gapMs ?? [200, 800];
  const noise = o.powerNoise ?? 0.03;
  const firstId = o.firstId ?? 0;
  // Piecewise-constant true power: [start, end, watts, busy].
  const segs: [number, number, number, boolean][] = [];
  const spans: RequestSpan[] = [];
  let t = gapMin;
  segs.push([0, t, model.idlePowerW, false]);
  for (let k = 0; k < count; k++) {
    const tokens = tokMin + Math.floor(rng.next() * (tokMax - tokMin + 1));
    const ept = model.energyPerToken * Math.exp(model.energyPerTokenSigma * rng.normal());
    const tps = model.tokensPerSecond * Math.exp(model.tokensPerSecondSigma * rng.normal());
    const ttft = model.ttftMs * Math.exp(0.3 * rng.normal());
    const decodeMs = (tokens / tps) * 1000;
    const decodeW = Math.min(model.powerLimitW, ept * tps);
    const start = t;
    segs.push([start, start + ttft, Math.min(model.powerLimitW, model.prefillPowerW), true]);
    segs.push([start + ttft, start + ttft + decodeMs, decodeW, true]);
    const end = start + ttft + decodeMs;
    spans.push({ id: `r${firstId + k}`, start, firstToken: start + ttft, end, outputTokens: tokens });
    const gap = gapMin + rng.next() * (gapMax - gapMin);
    segs.push([end, end + gap, model.idlePowerW, false]);
    t = end + gap;
  }
  const samples: Sample[] = [];
  let seg = 0;
  let energyJ = 0;
  let last = 0;
  for (let s = 0; s <= t; s += period) {
    const ts = Math.min(t, Math.max(last, s + (rng.next() - 0.5) * 10));
    // Integrate the true power from `last` to `ts`.
    while (seg < segs.length && segs[seg]![1] <= ts) {
      const [a, b, w] = segs[seg]!;
      energyJ += (w * (b - Math.max(a, last))) / 1000;
      last = b;
      seg++;
    }
    const cur = segs[Math.min(seg, segs.length - 1)]!;
    energyJ += (cur[2] * (ts - last)) / 1000;
    last = ts;
    samples.push({
      t: ts,
      energyJ: Math.round(energyJ * 1000) / 1000,
      powerW: Math.round(cur[2] * (1 + noise * rng.normal()) * 100) / 100,
      utilGpu: cur[3] ? Math.round(100 * rng.beta(model.utilAlpha, model.utilBeta)) : 0,
      memUsedMiB: 72_000,
    });
  }
  return { samples, spans };
}
