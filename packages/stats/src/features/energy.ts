import type { Sample } from './types.ts';

/**
 * Energy of each interval between consecutive samples, joules: the energy-counter delta when
 * both ends have a counter reading and it did not go backwards (a reset), otherwise the
 * trapezoid of the two power readings, otherwise NaN. `out[i]` covers [s[i].t, s[i+1].t].
 * The counter is preferred: it integrates on the GPU, while nvidia-smi's power.draw is a
 * 1-second average sampled for only part of the time on recent GPUs (arXiv:2312.02741).
 */
export function intervalEnergy(samples: readonly Sample[]): { energy: Float64Array; fromCounter: boolean[] } {
  const n = Math.max(0, samples.length - 1);
  const energy = new Float64Array(n);
  const fromCounter: boolean[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const a = samples[i]!;
    const b = samples[i + 1]!;
    if (a.energyJ !== undefined && b.energyJ !== undefined && b.energyJ >= a.energyJ) {
      energy[i] = b.energyJ - a.energyJ;
      fromCounter[i] = true;
    } else if (a.powerW !== undefined && b.powerW !== undefined) {
      energy[i] = ((a.powerW + b.powerW) / 2) * ((b.t - a.t) / 1000);
      fromCounter[i] = false;
    } else {
      energy[i] = Number.NaN;
      fromCounter[i] = false;
    }
  }
  return { energy, fromCounter };
}

/** Length of [a0, a1] ∩ [b0, b1], 0 when disjoint. */
export function overlap(a0: number, a1: number, b0: number, b1: number): number {
  const d = Math.min(a1, b1) - Math.max(a0, b0);
  return Math.max(d, 0);
}

/** Index of the last sample with t <= x (binary search), -1 when none. */
export function lastAtOrBefore(samples: readonly Sample[], x: number): number {
  let lo = 0;
  let hi = samples.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (samples[mid]!.t <= x) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}
