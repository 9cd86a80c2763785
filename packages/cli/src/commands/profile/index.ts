import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import {
  CLAIMED_MODEL,
  calibrateProfile,
  canonicalBytes,
  expectedRequests,
  type FitInput,
  fitProfile,
  generateTrace,
  logLikelihoodRatio,
  type Profile,
  parseProfile,
  requestFeatures,
  rocAuc,
  Sprt,
  StatsError,
  scoreRequest,
  substituteOf,
  tprAtFpr,
} from '@tmb/stats';
import { parse, UsageError } from '../../args.ts';
import type { Io } from '../../registry.ts';
import { signProfile, verifySignedProfile } from './sign.ts';
import { densitySvg } from './svg.ts';

export { densitySvg, signProfile, verifySignedProfile };

const HELP = `usage: tmb profile <subcommand> [options]

  keygen --out FILE
      Writes a new Ed25519 signing key (PKCS#8 PEM, mode 0600).
  generate [--factor F] [--requests N] [--seed S]
      Prints per-request features (JSON lines) from the documented noisy trace generator:
      the claimed model, or a substitute drawing F times its energy per token.
  fit --features FILE --key FILE --model-digest D --gpu-model G --gpu-count N --engine E
      --engine-version V --concurrency BUCKET --power-limit W [--held-out FILE --fpr R] [--out FILE]
      Fits a profile on the features (JSON lines, '-' for stdin), calibrates its threshold on
      the held-out features at false-positive rate R (default 0.001), signs it (docs/profile.md).
  show FILE [--json] [--trusted-key BASE64]
      Checks the signature (and that the signer is the trusted key, if given) and prints the profile.
  eval --profile FILE --honest FILE --substitute FILE [--substitute-profile FILE]
      [--alpha A (default 1e-4) --beta B (default 0.01)] [--svg FILE] [--json]
      Scores honest and substitute features: TPR at 1% and 0.1% FPR, ROC AUC, expected requests
      to an SPRT decision (with a substitute profile), and an SVG of the fitted densities over
      the data's histograms.
Exit status: 0 done, 1 a bad signature or data that cannot be fitted, 2 bad usage.`;

/** A file's text, or standard input's for `-`. @throws UsageError when it cannot be read */
async function readText(path: string, flag: string, io: Io): Promise<string> {
  if (path === '-') return new TextDecoder().decode(await io.stdin());
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag} ${path}: ${(err as Error).message}`);
  }
}

/** Per-request features from JSON lines; utilization may be null (not reported). */
export function parseFeatures(text: string, what: string): FitInput[] {
  const out: FitInput[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(line);
    } catch {
      throw new UsageError(`${what} line ${i + 1}: not JSON`);
    }
    const num = (k: string, nullable = false): number => {
      const v = o[k];
      if (nullable && (v === null || v === undefined)) return Number.NaN;
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new UsageError(`${what} line ${i + 1}: ${k} must be a finite number`);
      return v;
    };
    const f: FitInput = {
      energyPerToken: num('energyPerToken'),
      tokensPerSecond: num('tokensPerSecond'),
      utilization: num('utilization', true),
    };
    if (typeof o.meanPowerW === 'number') f.meanPowerW = o.meanPowerW;
    out.push(f);
  });
  return out;
}

function generate(argv: string[], io: Io): number {
  const { values } = parse(argv, {
    factor: { type: 'string', default: '1' },
    requests: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
  });
  const factor = Number(values.factor);
  const n = Number(values.requests);
  const seed = Number(values.seed);
  if (!(factor > 0) || !Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(seed))
    throw new UsageError('--factor must be > 0, --requests and --seed integers');
  const model = factor === 1 ? CLAIMED_MODEL : substituteOf(CLAIMED_MODEL, factor);
  const { samples, spans } = generateTrace(model, { seed, requests: n });
  for (const r of requestFeatures(samples, spans).values()) {
    if (!r.ok) continue;
    const f = r.features;
    io.stdout(
      `${JSON.stringify({ id: f.id, energyPerToken: f.energyPerToken, tokensPerSecond: f.tokensPerSecond, utilization: f.utilization, meanPowerW: f.meanPowerW })}\n`,
    );
  }
  return 0;
}

async function keygen(argv: string[]): Promise<number> {
  const { values } = parse(argv, { out: { type: 'string' } });
  if (values.out === undefined) throw new UsageError('--out is required');
  const { privateKey } = generateKeyPairSync('ed25519');
  await writeFile(values.out, privateKey.export({ format: 'pem', type: 'pkcs8' }), {
    mode: 0o600,
    flag: 'wx',
  });
  return 0;
}

async function fit(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    features: { type: 'string' },
    'held-out': { type: 'string' },
    fpr: { type: 'string', default: '0.001' },
    key: { type: 'string' },
    out: { type: 'string' },
    'model-digest': { type: 'string' },
    'gpu-model': { type: 'string' },
    'gpu-count': { type: 'string', default: '1' },
    engine: { type: 'string' },
    'engine-version': { type: 'string' },
    concurrency: { type: 'string', default: '1' },
    'power-limit': { type: 'string' },
  });
  for (const f of [
    'features',
    'key',
    'model-digest',
    'gpu-model',
    'engine',
    'engine-version',
    'power-limit',
  ] as const)
    if (values[f] === undefined) throw new UsageError(`--${f} is required (see --help)`);
  const gpuCount = Number(values['gpu-count']);
  if (!Number.isSafeInteger(gpuCount) || gpuCount < 1)
    throw new UsageError('--gpu-count must be a positive integer');
  let key: KeyObject;
  try {
    key = createPrivateKey(await readText(values.key!, '--key', io));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`--key ${values.key}: not a PEM private key`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`--key ${values.key}: not an Ed25519 key`);
  const feats = parseFeatures(await readText(values.features!, '--features', io), '--features');
  try {
    let p = fitProfile(
      {
        modelDigest: values['model-digest']!,
        gpuModel: values['gpu-model']!,
        gpuCount,
        engine: values.engine!,
        engineVersion: values['engine-version']!,
        concurrencyBucket: values.concurrency!,
      },
      feats,
      { powerLimitW: Number(values['power-limit']) },
    );
    if (values['held-out'] !== undefined) {
      const held = parseFeatures(await readText(values['held-out'], '--held-out', io), '--held-out');
      p = calibrateProfile(p, held, Number(values.fpr));
    }
    parseProfile(JSON.parse(new TextDecoder().decode(canonicalBytes(p))));
    const text = `${JSON.stringify(signProfile(p, key), null, 2)}\n`;
    if (values.out === undefined) io.stdout(text);
    else await writeFile(values.out, text);
    return 0;
  } catch (err) {
    if (!(err instanceof StatsError)) throw err;
    io.stderr(`tmb profile: ${err.code}: ${err.message}\n`);
    return 1;
  }
}

async function loadProfile(path: string, io: Io, trusted?: string): Promise<Profile | undefined> {
  try {
    const r = verifySignedProfile(await readText(path, 'profile', io), trusted);
    if (!r.ok) {
      io.stderr(`tmb profile: ${path}: ${r.why}\n`);
      return undefined;
    }
    return r.profile;
  } catch (err) {
    if (!(err instanceof StatsError)) throw err;
    io.stderr(`tmb profile: ${path}: ${err.code}: ${err.message}\n`);
    return undefined;
  }
}

async function show(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { json: { type: 'boolean' }, 'trusted-key': { type: 'string' } },
    true,
  );
  if (positionals.length !== 1) throw new UsageError('show takes one profile file');
  const p = await loadProfile(positionals[0]!, io, values['trusted-key']);
  if (p === undefined) return 1;
  if (values.json) {
    io.stdout(`${JSON.stringify(p)}\n`);
    return 0;
  }
  const f = p.features;
  io.stdout(
    [
      'signature ok',
      `key        ${Object.entries(p.key)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
      `requests   ${p.n}`,
      `energy/token   log-normal median ${Math.exp(f.energyPerToken.mu).toFixed(3)} J, sigma ${f.energyPerToken.sigma.toFixed(4)}`,
      `tokens/s       log-normal median ${Math.exp(f.tokensPerSecond.mu).toFixed(2)}, sigma ${f.tokensPerSecond.sigma.toFixed(4)}`,
      `utilization    beta alpha ${f.utilization.alpha.toFixed(3)}, beta ${f.utilization.beta.toFixed(3)}`,
      p.calibration === undefined
        ? 'calibration    none (requests score as insufficient data)'
        : `calibration    log-likelihood threshold ${p.calibration.logLikelihoodThreshold.toFixed(4)} at FPR ${p.calibration.fpr} (${p.calibration.heldOut} held-out requests)`,
      '',
    ].join('\n'),
  );
  return 0;
}

/** Mean number of requests per SPRT decision over a stream, and the fraction that flagged the substitute. */
function runSprt(llrs: number[], alpha: number, beta: number): { meanRequests: number; flagged: number } {
  const t = new Sprt({ alpha, beta });
  let decisions = 0;
  let flagged = 0;
  let used = 0;
  let n = 0;
  for (const l of llrs) {
    n++;
    const d = t.push(l);
    if (d === 'continue') continue;
    decisions++;
    used += n;
    n = 0;
    if (d === 'accept-substitute') flagged++;
  }
  return {
    meanRequests: decisions === 0 ? Number.NaN : used / decisions,
    flagged: decisions === 0 ? Number.NaN : flagged / decisions,
  };
}

async function evaluate(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    profile: { type: 'string' },
    honest: { type: 'string' },
    substitute: { type: 'string' },
    'substitute-profile': { type: 'string' },
    alpha: { type: 'string', default: '0.0001' },
    beta: { type: 'string', default: '0.01' },
    svg: { type: 'string' },
    json: { type: 'boolean' },
  });
  for (const f of ['profile', 'honest', 'substitute'] as const)
    if (values[f] === undefined) throw new UsageError(`--${f} is required (see --help)`);
  const claimed = await loadProfile(values.profile!, io);
  if (claimed === undefined) return 1;
  const sub =
    values['substitute-profile'] === undefined
      ? undefined
      : await loadProfile(values['substitute-profile'], io);
  if (values['substitute-profile'] !== undefined && sub === undefined) return 1;
  const honest = parseFeatures(await readText(values.honest!, '--honest', io), '--honest');
  const cheat = parseFeatures(await readText(values.substitute!, '--substitute', io), '--substitute');
  // Higher = more suspicious: the log-likelihood ratio with a substitute profile, else -ll.
  const score = (f: FitInput) =>
    sub === undefined ? -scoreRequest(claimed, f).logLikelihood : logLikelihoodRatio(claimed, sub, f);
  const neg = honest.map(score);
  const pos = cheat.map(score);
  const alpha = Number(values.alpha);
  const beta = Number(values.beta);
  try {
    const report: Record<string, unknown> = {
      scoring: sub === undefined ? 'negative log-likelihood' : 'log-likelihood ratio',
      honest: neg.length,
      substitute: pos.length,
      tprAtFpr1pct: tprAtFpr(neg, pos, 0.01),
      tprAtFpr01pct: tprAtFpr(neg, pos, 0.001),
      rocAuc: rocAuc(neg, pos),
    };
    if (sub !== undefined) {
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const s = runSprt(pos, alpha, beta);
      const h = runSprt(neg, alpha, beta);
      report.sprt = {
        alpha,
        beta,
        substitute: {
          meanRequestsToDecision: s.meanRequests,
          flaggedFraction: s.flagged,
          wald: expectedRequests({ alpha, beta }, mean(pos), 'substitute'),
        },
        honest: {
          meanRequestsToDecision: h.meanRequests,
          flaggedFraction: h.flagged,
          wald: expectedRequests({ alpha, beta }, mean(neg), 'claimed'),
        },
      };
    }
    if (values.svg !== undefined) await writeFile(values.svg, densitySvg(claimed, sub, honest, cheat));
    io.stdout(values.json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof StatsError)) throw err;
    io.stderr(`tmb profile: ${err.code}: ${err.message}\n`);
    return 1;
  }
}

/** `tmb profile ...` */
export async function main(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'keygen':
      return keygen(rest);
    case 'generate':
      return generate(rest, io);
    case 'fit':
      return fit(rest, io);
    case 'show':
      return show(rest, io);
    case 'eval':
      return evaluate(rest, io);
    case undefined:
    case '--help':
    case '-h':
      io.stdout(`${HELP}\n`);
      return sub === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (see --help)`);
  }
}
