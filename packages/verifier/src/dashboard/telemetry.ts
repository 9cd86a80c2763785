import type { Sample } from '@tmb/stats';
import type { LoadedProfile } from '../telemetry/profiles.ts';
import type { TelemetryStore } from '../telemetry/store.ts';
import type { FeedVerdict } from './feed.ts';

/** Most points a sample series has: samples are averaged into this many buckets at most. */
export const MAX_POINTS = 300;

/** Longest window of samples one answer covers, in minutes. */
export const MAX_MINUTES = 15;

/** A host's telemetry against its signed profile (GET /v1/dashboard/hosts/:agent/telemetry). */
export interface TelemetryView {
  agent: string;
  /** GPU 0's samples over the window ending at the newest one, averaged into buckets: Unix s,
   * watts, percent utilisation (null where a bucket had no such reading). */
  samples: { t: number[]; powerW: (number | null)[]; utilGpu: (number | null)[] };
  /** Recent requests this process judged: Unix s of their end, joules per token, mean watts,
   * mean utilisation (percent) and level. */
  requests: {
    t: number[];
    energyPerToken: number[];
    meanPowerW: number[];
    utilGpu: number[];
    level: string[];
  };
  /** The profile the latest request was held against: medians and central 95% bands. */
  profile: ProfileBands | null;
}

/** What a profile expects, as lines and bands the plots draw. */
export interface ProfileBands {
  id: string;
  gpuModel: string;
  concurrencyBucket: string;
  n: number;
  /** Joules per output token: log-normal median and exp(mu +- 1.96 sigma). */
  energyPerToken: { median: number; lo: number; hi: number };
  /** Mean utilisation in percent: the beta's mean and a +-1.96 standard deviation band, clipped. */
  utilGpu: { mean: number; lo: number; hi: number };
  /** Mean power in watts (the descriptive power fraction times the power limit), when fitted. */
  powerW: number | null;
}

/** What a telemetry view is read from. */
export interface TelemetrySources {
  store: Pick<TelemetryStore, 'window'>;
  profiles: { list(): readonly LoadedProfile[] };
  recent(agent: string): readonly FeedVerdict[];
}

/**
 * The host's samples over the last `minutes` before its newest sample (the agent's clock, so a
 * host whose clock differs from the verifier's still plots), its recent requests' features and
 * the profile they were held against.
 */
export async function telemetryView(
  s: TelemetrySources,
  agent: string,
  minutes: number,
): Promise<TelemetryView> {
  // window(t, t) past every sample returns the last sample before it: the newest one.
  const far = Number.MAX_SAFE_INTEGER;
  const newest = (await s.store.window(agent, 0, far, far)).at(-1);
  const samples =
    newest === undefined ? [] : await s.store.window(agent, 0, newest.t - minutes * 60_000, newest.t);
  const recent = s.recent(agent).filter((v) => v.telemetry !== null && v.at !== null);
  const profileId = recent.at(-1)?.telemetry?.profile ?? null;
  const loaded = profileId === null ? undefined : s.profiles.list().find((p) => p.id === profileId);
  return {
    agent,
    samples: bucketed(samples),
    requests: {
      t: recent.map((v) => v.at! / 1000),
      energyPerToken: recent.map((v) => v.telemetry!.energyPerToken),
      meanPowerW: recent.map((v) => v.telemetry!.meanPowerW),
      utilGpu: recent.map((v) => v.telemetry!.utilization * 100),
      level: recent.map((v) => v.level),
    },
    profile: loaded === undefined ? null : bands(loaded),
  };
}

/** Averages samples into at most MAX_POINTS equal time buckets (the plot needs no more). */
function bucketed(samples: readonly Sample[]): TelemetryView['samples'] {
  const out: TelemetryView['samples'] = { t: [], powerW: [], utilGpu: [] };
  if (samples.length === 0) return out;
  const t0 = samples[0]!.t;
  const span = Math.max(1, samples.at(-1)!.t - t0);
  const width = span / MAX_POINTS;
  let i = 0;
  while (i < samples.length) {
    const bucket = Math.min(MAX_POINTS - 1, Math.floor((samples[i]!.t - t0) / width));
    const sums = { t: 0, n: 0, p: 0, pn: 0, u: 0, un: 0 };
    for (; i < samples.length; i++) {
      const x = samples[i]!;
      if (Math.min(MAX_POINTS - 1, Math.floor((x.t - t0) / width)) !== bucket) break;
      sums.t += x.t;
      sums.n++;
      if (Number.isFinite(x.powerW)) {
        sums.p += x.powerW!;
        sums.pn++;
      }
      if (Number.isFinite(x.utilGpu)) {
        sums.u += x.utilGpu!;
        sums.un++;
      }
    }
    out.t.push(sums.t / sums.n / 1000);
    out.powerW.push(sums.pn === 0 ? null : sums.p / sums.pn);
    out.utilGpu.push(sums.un === 0 ? null : sums.u / sums.un);
  }
  return out;
}

function bands(p: LoadedProfile): ProfileBands {
  const f = p.profile.features;
  const { mu, sigma } = f.energyPerToken;
  const { alpha, beta } = f.utilization;
  const mean = alpha / (alpha + beta);
  const sd = Math.sqrt((alpha * beta) / ((alpha + beta) ** 2 * (alpha + beta + 1)));
  const frac = p.profile.descriptive.powerFraction;
  return {
    id: p.id,
    gpuModel: p.profile.key.gpuModel,
    concurrencyBucket: p.profile.key.concurrencyBucket,
    n: p.profile.n,
    energyPerToken: {
      median: Math.exp(mu),
      lo: Math.exp(mu - 1.96 * sigma),
      hi: Math.exp(mu + 1.96 * sigma),
    },
    utilGpu: {
      mean: 100 * mean,
      lo: 100 * Math.max(0, mean - 1.96 * sd),
      hi: 100 * Math.min(1, mean + 1.96 * sd),
    },
    powerW:
      frac === undefined ? null : p.profile.descriptive.powerLimitW * (frac.alpha / (frac.alpha + frac.beta)),
  };
}
