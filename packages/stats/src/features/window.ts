import { attributeEnergy } from './attribute.ts';
import { lastAtOrBefore } from './energy.ts';
import type { FeatureResult, RequestSpan, Sample } from './types.ts';

/**
 * Per-request features from a stream of samples (sorted by `t`) and the requests served in
 * it. Energy is attributed with attributeEnergy (overlapping requests share it by tokens);
 * power, utilization and memory are the GPU's readings inside the request's window, which are
 * shared by every request running at the time (that is why a profile is keyed by concurrency).
 *
 * A request gets `{ ok: false }` when it produced no tokens, when the samples do not reach
 * from before its start to after its end, when no sample falls inside its window (a request
 * shorter than the sample period, or a reader that lagged through it: its energy would be a
 * time share of an interval reaching outside it, and its utilization would silently drop out of
 * the score), or when an interval inside it has neither an energy nor a power reading: the
 * verdict's "insufficient data", never a guess.
 */
export function requestFeatures(
  samples: readonly Sample[],
  spans: readonly RequestSpan[],
): Map<string, FeatureResult> {
  const energy = attributeEnergy(samples, spans);
  const out = new Map<string, FeatureResult>();
  for (const s of spans) {
    if (!(s.outputTokens > 0)) {
      out.set(s.id, { ok: false, reason: 'no-tokens' });
      continue;
    }
    const a = energy.get(s.id)!;
    if (!a.covered) {
      const around = samples.length >= 2 && samples[0]!.t <= s.start && samples.at(-1)!.t >= s.end;
      out.set(s.id, { ok: false, reason: around ? 'no-energy-readings' : 'no-samples-around-window' });
      continue;
    }
    let sumP = 0;
    let nP = 0;
    let peak = Number.NaN;
    let mem = Number.NaN;
    const util: number[] = [];
    let count = 0;
    for (let i = Math.max(0, lastAtOrBefore(samples, s.start)); i < samples.length; i++) {
      const x = samples[i]!;
      if (x.t > s.end) break;
      if (x.t < s.start) continue;
      count++;
      if (x.powerW !== undefined) {
        sumP += x.powerW;
        nP++;
        if (!(x.powerW <= peak)) peak = x.powerW;
      }
      if (x.utilGpu !== undefined) util.push(x.utilGpu / 100);
      if (x.memUsedMiB !== undefined && !(x.memUsedMiB <= mem)) mem = x.memUsedMiB;
    }
    if (count === 0) {
      out.set(s.id, { ok: false, reason: 'no-samples-in-window' });
      continue;
    }
    const durationMs = s.end - s.start;
    const decodeMs = s.end - (s.firstToken ?? s.start);
    const meanUtil = util.length > 0 ? util.reduce((p, q) => p + q, 0) / util.length : Number.NaN;
    out.set(s.id, {
      ok: true,
      features: {
        id: s.id,
        durationMs,
        energyJ: a.energyJ,
        energySource: a.fromCounter ? 'counter' : 'power',
        energyPerToken: a.energyJ / s.outputTokens,
        // With no power readings inside the window, the mean is energy over time.
        meanPowerW: nP > 0 ? sumP / nP : a.energyJ / (durationMs / 1000),
        peakPowerW: peak,
        utilization: meanUtil,
        utilizationSamples: util,
        memUsedMiB: mem,
        tokensPerSecond: decodeMs > 0 ? s.outputTokens / (decodeMs / 1000) : Number.NaN,
        ttftMs: s.firstToken !== undefined ? s.firstToken - s.start : Number.NaN,
        sampleCount: count,
      },
    });
  }
  return out;
}
