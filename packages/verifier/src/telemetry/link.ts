import { type Check, type ReceiptBody, receiptServed } from '@tmb/core';
import {
  concurrencyBucket,
  type FeatureResult,
  type GpuIdentity,
  type RequestFeatures,
  type RequestSpan,
  requestFeatures,
  type Sample,
  samplesAround,
  type TelemetryLink,
  telemetryLink,
  windowGpu,
} from '@tmb/stats';
import type { LoadedProfile } from './profiles.ts';
import type { StoredSpan, TelemetryStore } from './store.ts';

/** The modelDigest a profile carries to be used for receipts asking for model NAME (any weights of it). */
export function nameDigest(model: string): string {
  return `name:${model}`;
}

/**
 * The modelDigests that name the model a receipt asked for, most specific first: the weights
 * the receipt says served it (receipt v2 `served.weights`, as `sha256:<hex>`) when
 * `servedTrusted`, then `name:<model.requested>`. The caller (TelemetryService) trusts the served
 * digest only when the registry lists it for the model asked for and the verdict's
 * `weights.allowed` passed: an agent that served a substitute, or says it did, is held against
 * the requested model's profile, never the substitute's.
 */
export function profileDigests(body: ReceiptBody, servedTrusted: boolean): string[] {
  const served = receiptServed(body)?.weights ?? null;
  const name = body.model.requested === null ? [] : [nameDigest(body.model.requested)];
  return servedTrusted && served !== null ? [`sha256:${served}`, ...name] : name;
}

/** What the verifier found for one receipt's telemetry (GET /v1/telemetry/receipts/:id). */
export interface TelemetryFinding {
  check: Check;
  profile?: { id: string; key: LoadedProfile['profile']['key'] };
  link?: TelemetryLink;
  features?: RequestFeatures;
  /** Requests in flight at once over this one's window, as far as the verifier has seen them. */
  concurrency?: number;
  /** The GPU the samples of the request's window name, against the profile's gpuModel. */
  gpu?: GpuIdentity;
}

/** The span of a receipt on the sample clock: receipt times are Unix µs, samples Unix ms from the same clock. */
export function spanOf(body: ReceiptBody): StoredSpan {
  const firstToken = body.response.stream && body.time.firstByte !== null ? body.time.firstByte / 1000 : null;
  return {
    id: body.id,
    start: body.time.start / 1000,
    firstToken,
    end: body.time.end / 1000,
    tokens: body.usage.completion ?? 0,
  };
}

function skipped(detail: string): TelemetryFinding {
  return { check: { name: 'telemetry.consistent', status: 'skipped', detail } };
}

/**
 * The telemetry link of one receipt: its window of GPU samples (the agent's, gpu 0), cut at
 * time.start / firstByte / end; its features (requestFeatures, energy shared with overlapping
 * receipts); the profile for the model asked for and the concurrency bucket (by the served
 * weights digest when `o.servedTrusted` and a profile has it, else by name: profileDigests);
 * the score.
 * `pass` when consistent, `fail` TELEMETRY_INCONSISTENT when below the profile's calibrated
 * threshold, `fail` TELEMETRY_GPU_MISMATCH when a sample of the window names another GPU than
 * the profile's gpuModel, `fail` TELEMETRY_GPU_CHANGED when the window's samples carry two GPU
 * UUIDs, `skipped` (never pass) when there is no profile, no tokens, too few samples or no
 * sample naming its GPU.
 */
export async function linkReceipt(
  body: ReceiptBody,
  store: TelemetryStore,
  profiles: readonly LoadedProfile[],
  o: { servedTrusted?: boolean } = {},
): Promise<TelemetryFinding> {
  const model = body.model.requested;
  if (model === null) return skipped('the request names no model: no profile to compare with');
  if (body.outcome !== 'complete') return skipped(`the exchange ended ${body.outcome}: not comparable`);
  const span = spanOf(body);
  if (!(span.tokens > 0)) return skipped('no output tokens reported: nothing to compare per token');
  const w = await measure(body, span, store);
  const measured = { concurrency: w.concurrency, ...(w.result.ok ? { features: w.result.features } : {}) };
  const chosen = chooseProfile(body, model, profiles, w.bucket, o.servedTrusted ?? false);
  if (typeof chosen === 'string') return { ...skipped(chosen), ...measured };
  const link = telemetryLink(chosen.profile, w.result);
  const gpu = windowGpu(samplesAround(w.samples, span.start, span.end), chosen.profile.key.gpuModel);
  const base = { profile: { id: chosen.id, key: chosen.profile.key }, link, gpu, ...measured };
  const who = `profile ${chosen.id} (${chosen.profile.key.modelDigest}, ${chosen.profile.key.gpuModel}, bucket ${w.bucket})`;
  return { ...base, check: judge(w.result, link, gpu, who) };
}

/**
 * The receipt's window: the receipts overlapping it (its concurrency and bucket), the GPU
 * samples from the first start to the last end among them, and its features, energy shared
 * with the overlapping receipts.
 */
async function measure(
  body: ReceiptBody,
  span: StoredSpan,
  store: TelemetryStore,
): Promise<{ concurrency: number; bucket: string; samples: Sample[]; result: FeatureResult }> {
  const overlapping = await store.spans(body.agent, span);
  const concurrency = Math.max(1, overlapping.length);
  const spans: RequestSpan[] = overlapping.map((s) => ({
    id: s.id,
    start: s.start,
    end: s.end,
    outputTokens: s.tokens,
    ...(s.firstToken !== null ? { firstToken: s.firstToken } : {}),
  }));
  const lo = Math.min(span.start, ...spans.map((s) => s.start));
  const hi = Math.max(span.end, ...spans.map((s) => s.end));
  const samples = await store.window(body.agent, 0, lo, hi);
  const result: FeatureResult = requestFeatures(samples, spans).get(body.id) ?? {
    ok: false,
    reason: 'no-samples-around-window',
  };
  return { concurrency, bucket: concurrencyBucket(concurrency), samples, result };
}

/**
 * The one trusted profile for the model asked for at the concurrency bucket, by the most specific
 * digest any trusted profile has (the served weights, else the name: profileDigests); else why none.
 */
function chooseProfile(
  body: ReceiptBody,
  model: string,
  profiles: readonly LoadedProfile[],
  bucket: string,
  servedTrusted: boolean,
): LoadedProfile | string {
  const digests = profileDigests(body, servedTrusted);
  const digest =
    digests.find((d) => profiles.some((p) => p.profile.key.modelDigest === d)) ?? nameDigest(model);
  const forModel = profiles.filter((p) => p.profile.key.modelDigest === digest);
  const matching = forModel.filter((p) => p.profile.key.concurrencyBucket === bucket);
  if (matching.length === 1) return matching[0]!;
  return forModel.length === 0
    ? `no trusted telemetry profile for model ${JSON.stringify(model)}`
    : matching.length === 0
      ? `no profile for ${JSON.stringify(model)} at concurrency bucket ${bucket}`
      : `${matching.length} profiles match ${JSON.stringify(model)} at bucket ${bucket}; which hardware is not known`;
}

/** `telemetry.consistent` of a receipt against the chosen profile (`who`), given its window's GPU and score. */
function judge(result: FeatureResult, link: TelemetryLink, gpu: GpuIdentity, who: string): Check {
  const name = 'telemetry.consistent';
  // The GPU's identity first: a sample naming another GPU, or a GPU swapped within the window,
  // fails whatever the score says; the profile holds only for the hardware it was fitted on.
  if (gpu.status === 'mismatch')
    return {
      name,
      status: 'fail',
      code: 'TELEMETRY_GPU_MISMATCH',
      detail: `the request's telemetry names GPU ${JSON.stringify(gpu.name)}, ${who} is for ${JSON.stringify(gpu.gpuModel)}`,
    };
  if (gpu.status === 'changed')
    return {
      name,
      status: 'fail',
      code: 'TELEMETRY_GPU_CHANGED',
      detail: `the GPU changed within the request's window: UUID ${JSON.stringify(gpu.uuids[0])}, then ${JSON.stringify(gpu.uuids[1])}`,
    };
  if (!result.ok || link.status === 'insufficient-data')
    return {
      name,
      status: 'skipped',
      detail: `insufficient telemetry for ${who}: ${link.reason ?? (result.ok ? '' : result.reason)}${result.ok ? '' : result.reason === 'no-samples-around-window' ? ' (samples after the end may not have arrived yet)' : ''}`,
    };
  if (gpu.status === 'unnamed')
    return {
      name,
      status: 'skipped',
      detail: `no sample of the request's window names its GPU, so it cannot be held against ${who} (an agent that does not send the GPU name, or the tool printed [N/A])`,
    };
  const f = result.features;
  const numbers = `log-likelihood ${link.logLikelihood!.toFixed(2)} vs threshold ${link.threshold!.toFixed(2)}; ${f.energyPerToken.toFixed(3)} J/token, ${f.tokensPerSecond.toFixed(0)} tokens/s, utilization ${(f.utilization * 100).toFixed(0)}%, ${f.sampleCount} samples`;
  return link.status === 'consistent'
    ? {
        name,
        status: 'pass',
        detail: `consistent with ${who} on GPU ${JSON.stringify(gpu.name)}${gpu.uuid !== undefined ? ` (${gpu.uuid})` : ''}: ${numbers}`,
      }
    : {
        name,
        status: 'fail',
        code: 'TELEMETRY_INCONSISTENT',
        detail: `inconsistent with ${who}: ${numbers}`,
      };
}
