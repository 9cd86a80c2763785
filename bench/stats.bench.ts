/**
 * Statistics figures of issue 5: beta fit of 1,000,000 samples (target <= 200 ms) against one
 * pass computing mean ln x; scoring one request (target <= 0.1 ms); and detection on traces of
 * the documented generator (packages/stats/src/generate/trace.ts): a substitute with 1.5x the
 * energy per token flagged with TPR >= 99% at FPR <= 0.1% within 20 requests, and the claimed
 * model passing 10,000 requests with <= 0.1% false alarms. SPRT alpha 1e-4, beta 0.01 (below).
 */
import {
  CLAIMED_MODEL,
  createRng,
  fitBeta,
  fitProfile,
  generateTrace,
  logLikelihoodRatio,
  type ModelTruth,
  type RequestFeatures,
  requestFeatures,
  Sprt,
  scoreRequest,
  substituteOf,
} from '@tmb/stats';
import { type BenchRecord, percentile } from './record.ts';

const B = 'stats';
/**
 * Per-test error rates of the host SPRT. The test restarts after each decision, about every 2
 * requests for an honest host, so a 20-request window holds about 10 tests: alpha 1e-4 per
 * test keeps the window's false-positive rate near 0.1% (Bonferroni over the tests).
 */
const SPRT = { alpha: 1e-4, beta: 0.01 };

function median(f: () => void, reps: number): number {
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    f();
    ts.push(performance.now() - t);
  }
  return percentile(
    ts.sort((a, b) => a - b),
    50,
  );
}

function features(m: ModelTruth, seed: number, n: number): RequestFeatures[] {
  const tr = generateTrace(m, { seed, requests: n });
  return [...requestFeatures(tr.samples, tr.spans).values()].flatMap((r) => (r.ok ? [r.features] : []));
}

/** Splits a stream into consecutive runs of `len` requests; counts runs where the SPRT flagged the substitute. */
function flaggedWithin(llrs: number[], len: number): { runs: number; flagged: number; meanToFlag: number } {
  let runs = 0;
  let flagged = 0;
  let toFlag = 0;
  for (let s = 0; s + len <= llrs.length; s += len) {
    runs++;
    const t = new Sprt(SPRT);
    for (let i = 0; i < len; i++)
      if (t.push(llrs[s + i]!) === 'accept-substitute') {
        flagged++;
        toFlag += i + 1;
        break;
      }
  }
  return { runs, flagged, meanToFlag: flagged === 0 ? Number.NaN : toFlag / flagged };
}

export async function* run(): AsyncIterable<BenchRecord> {
  const rng = createRng(42);
  const xs = new Float64Array(1_000_000);
  for (let i = 0; i < xs.length; i++) xs[i] = rng.beta(2, 5);
  let sink = 0;
  const baseline = median(() => {
    let s = 0;
    for (let i = 0; i < xs.length; i++) s += Math.log(xs[i]!);
    sink += s / xs.length;
  }, 7);
  const fit = median(() => {
    sink += fitBeta(xs).alpha;
  }, 7);
  yield { bench: B, metric: 'beta-fit-1e6-samples', value: fit, unit: 'ms', baseline };

  const KEY = {
    modelDigest: 'd',
    gpuModel: 'g',
    gpuCount: 1,
    engine: 'e',
    engineVersion: 'v',
    concurrencyBucket: '1',
  };
  const sub = substituteOf(CLAIMED_MODEL, 1.5);
  const claimedP = fitProfile(KEY, features(CLAIMED_MODEL, 1, 1000), { powerLimitW: 700 });
  const subP = fitProfile(KEY, features(sub, 2, 1000), { powerLimitW: 700 });

  const batch = features(CLAIMED_MODEL, 3, 2000);
  const perReq = median(() => {
    for (const f of batch) sink += scoreRequest(claimedP, f).logLikelihood;
  }, 7);
  yield { bench: B, metric: 'score-request', value: perReq / batch.length, unit: 'ms', baseline: null };

  const streams = 5000;
  const cheat = features(sub, 100, streams * 20).map((f) => logLikelihoodRatio(claimedP, subP, f));
  const honest = features(CLAIMED_MODEL, 200, streams * 20).map((f) => logLikelihoodRatio(claimedP, subP, f));
  const c = flaggedWithin(cheat, 20);
  const h = flaggedWithin(honest, 20);
  yield {
    bench: B,
    metric: 'substitute-1.5x-tpr-within-20-requests',
    value: c.flagged / c.runs,
    unit: 'ratio',
    baseline: null,
  };
  yield {
    bench: B,
    metric: 'honest-fpr-within-20-requests',
    value: h.flagged / h.runs,
    unit: 'ratio',
    baseline: null,
  };
  yield {
    bench: B,
    metric: 'substitute-mean-requests-to-flag',
    value: c.meanToFlag,
    unit: 'requests',
    baseline: null,
  };

  // One honest host serving 10,000 requests; the SPRT restarts after each decision.
  const long = features(CLAIMED_MODEL, 300, 10_000).map((f) => logLikelihoodRatio(claimedP, subP, f));
  const t = new Sprt(SPRT);
  let alarms = 0;
  for (const l of long) if (t.push(l) === 'accept-substitute') alarms++;
  yield {
    bench: B,
    metric: 'honest-false-alarms-per-request-10k',
    value: alarms / long.length,
    unit: 'ratio',
    baseline: null,
  };
  if (sink === 0.5) console.error('');
}
