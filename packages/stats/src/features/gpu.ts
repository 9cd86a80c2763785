import type { Sample } from './types.ts';

/** ASCII letters folded to lower case; other characters are kept as they are. */
function foldAscii(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * Whether a GPU name that a telemetry tool printed (`nvidia-smi --query-gpu=name`,
 * dcgm-exporter's `modelName`) names a profile's `gpuModel`: the two strings are equal once
 * ASCII letters are folded to one case. Nothing else is normalized (no trimming, no collapsing
 * of spaces, no prefix or substring match): "NVIDIA H100 80GB HBM3" matches
 * "nvidia h100 80gb hbm3" but neither "NVIDIA H100" nor "NVIDIA H100 PCIe". Case is folded
 * because profiles are typed by people while the tools print NVML's product name; the memory
 * size and form factor in the name are part of what a profile was fitted on, so they must match.
 */
export function gpuNameMatches(name: string, gpuModel: string): boolean {
  return foldAscii(name) === foldAscii(gpuModel);
}

/** What the samples of one request's window say about the GPU that served it (windowGpu). */
export type GpuIdentity =
  /** Every sample naming a GPU names gpuModel, and at most one UUID appears. */
  | { status: 'match'; name: string; uuid?: string; named: number; samples: number }
  /** No sample in the window names its GPU (an agent before GPU identity, or the tool printed [N/A]). */
  | { status: 'unnamed'; samples: number }
  /** A sample names another GPU than the profile's (`name`, at sample time `t`). */
  | { status: 'mismatch'; name: string; gpuModel: string; t: number }
  /** Two UUIDs in one window: the GPU was changed under the stream (the second first seen at `t`). */
  | { status: 'changed'; uuids: [string, string]; t: number };

/**
 * The GPU identity of one request's window of samples against a profile's `gpuModel`:
 * `mismatch` when any sample names another GPU (gpuNameMatches), else `changed` when the
 * samples carry two different UUIDs, else `unnamed` when none names its GPU, else `match`.
 * Samples that leave a name or UUID out are not counted against the others. Pure.
 */
export function windowGpu(samples: readonly Sample[], gpuModel: string): GpuIdentity {
  let first: Sample | undefined;
  let uuid: string | undefined;
  let named = 0;
  for (const s of samples) {
    if (s.name !== undefined) {
      if (!gpuNameMatches(s.name, gpuModel)) return { status: 'mismatch', name: s.name, gpuModel, t: s.t };
      named++;
      first ??= s;
    }
  }
  for (const s of samples) {
    if (s.uuid === undefined) continue;
    if (uuid === undefined) uuid = s.uuid;
    else if (s.uuid !== uuid) return { status: 'changed', uuids: [uuid, s.uuid], t: s.t };
  }
  if (first === undefined) return { status: 'unnamed', samples: samples.length };
  return {
    status: 'match',
    name: first.name!,
    ...(uuid !== undefined ? { uuid } : {}),
    named,
    samples: samples.length,
  };
}

/**
 * The samples of one request's window [start, end] (ms) out of a time-ordered list: those
 * inside it, and the last one before and the first one after, whose readings the request's
 * energy is interpolated from.
 */
export function samplesAround<S extends Sample>(samples: readonly S[], start: number, end: number): S[] {
  let lo = -1;
  let hi = samples.length;
  for (let i = 0; i < samples.length; i++) {
    const t = samples[i]!.t;
    if (t < start) lo = i;
    else if (t > end) {
      hi = i;
      break;
    }
  }
  return samples.slice(Math.max(0, lo), Math.min(samples.length, hi + 1));
}
