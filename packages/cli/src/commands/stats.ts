import { fitBeta, fitBetaMixture, fitGaussianMixture, StatsError } from '@tmb/stats';
import { fail, parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';

const HELP = `usage: tmb stats fit --dist beta|beta-mixture|gaussian-mixture [--json]

  Reads one number per line on standard input (blank lines ignored) and prints the maximum-
  likelihood fit and its log-likelihood. beta: values in [0, 1] (0 and 1 clamped by 1e-6),
  Newton's method from method-of-moments. Mixtures: two components by EM.
  --json prints {"dist": ..., "params": {...}, "logLikelihood": N}; for beta the params are
  alpha and beta, for mixtures weights and components.
  Exits 0 on a fit, 1 when the data cannot be fitted (the StatsError code is printed), 2 on bad
  usage or a line that is not a number.`;

const DISTS = ['beta', 'beta-mixture', 'gaussian-mixture'] as const;
type Dist = (typeof DISTS)[number];

/** One number per line; a line that is not a number is a usage error naming the line. */
export function parseNumbers(text: string): number[] {
  const out: number[] = [];
  text.split('\n').forEach((raw, i) => {
    const s = raw.trim();
    if (s === '') return;
    const v = Number(s);
    if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s) || !Number.isFinite(v))
      throw new UsageError(`line ${i + 1}: ${JSON.stringify(s.slice(0, 40))} is not a number`);
    out.push(v);
  });
  return out;
}

/** The fit as `tmb stats fit --json` prints it. */
export function fitDist(
  dist: Dist,
  xs: number[],
): { dist: Dist; params: Record<string, unknown>; logLikelihood: number } {
  if (dist === 'beta') {
    const f = fitBeta(xs);
    return { dist, params: { alpha: f.alpha, beta: f.beta }, logLikelihood: f.logLikelihood };
  }
  const m = dist === 'beta-mixture' ? fitBetaMixture(xs) : fitGaussianMixture(xs);
  return { dist, params: { weights: m.weights, components: m.components }, logLikelihood: m.logLikelihood };
}

/** `tmb stats fit ...` */
export async function main(argv: string[], io: Io): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(`${HELP}\n`);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'fit') throw new UsageError(`unknown subcommand ${JSON.stringify(sub)} (see --help)`);
  const { values } = parse(rest, {
    dist: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const dist = values.dist as Dist | undefined;
  if (dist === undefined || !DISTS.includes(dist))
    throw new UsageError(`--dist must be one of ${DISTS.join(', ')}`);
  const xs = parseNumbers(new TextDecoder().decode(await io.stdin()));
  let fit: ReturnType<typeof fitDist>;
  try {
    fit = fitDist(dist, xs);
  } catch (err) {
    if (!(err instanceof StatsError)) throw err;
    return fail(io, values.json === true, 'stats', err.code, err.message);
  }
  if (values.json) io.stdout(`${JSON.stringify(fit)}\n`);
  else {
    io.stdout(`${dist} fit of ${xs.length} samples\n`);
    io.stdout(`${JSON.stringify(fit.params, null, 2)}\n`);
    io.stdout(`log-likelihood ${fit.logLikelihood}\n`);
  }
  return 0;
}
