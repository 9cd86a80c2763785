import { parse, UsageError } from '../../args.ts';
import { ATTACKS, type AttackName, isAttack } from './attacks.ts';
import type { RoutingMode } from './lb.ts';
import type { TpmMode } from './stack.ts';

/** What `tmb demo`'s command line asks for (HELP in text.ts says what each flag does). */
export interface DemoOptions {
  /** One round, then stop (`--once`, or implied by `--attack`). */
  once: boolean;
  json: boolean;
  /** Loop mode: milliseconds between requests after the first round (`--interval`, default 3 s). */
  intervalMs: number;
  /** The honest sample's milliseconds per token (`--token-latency`, default 5). */
  latencyMs: number;
  model: string;
  tpm: TpmMode;
  /** A simulated GPU, telemetry and a warm-up: on unless `--no-telemetry` is the last word. */
  telemetry: boolean;
  attack: AttackName | undefined;
  verbose: boolean;
  quiet: boolean;
  /** Where the state folder is made (`--data-dir`); undefined: the system's temp folder. */
  dataDir: string | undefined;
  /** Hosts in all (`--hosts`, default 3): one cheap, the rest honest. */
  hosts: number;
  /** Share of requests the load balancer sends to the cheap host (`--cheat`, default 0.2). */
  cheat: number;
  /** `--routing`: auto (default: nginx when installed), nginx, or direct (the client routes). */
  routing: RoutingMode;
  /** Requests in the first round (`--requests`); undefined: 4 per host (each kind of request once per host). */
  requests: number | undefined;
}

/** Most hosts `--hosts` starts: each is an swtpm, a kernel, a sample server and an agent. */
export const MAX_HOSTS = 16;

/**
 * Reads `tmb demo`'s flags; null when `--help` is asked (nothing else is checked then).
 * `--telemetry` (the default) and `--no-telemetry` may both be given: the last one counts, as
 * with paired flags elsewhere (a wrapper script's default, overridden on its command line).
 * @throws UsageError for an unknown flag or a bad value
 */
export function demoOptions(argv: string[]): DemoOptions | null {
  const { values } = parse(argv, {
    once: { type: 'boolean' },
    json: { type: 'boolean' },
    interval: { type: 'string' },
    model: { type: 'string' },
    'token-latency': { type: 'string' },
    verbose: { type: 'boolean' },
    quiet: { type: 'boolean' },
    'data-dir': { type: 'string' },
    tpm: { type: 'string' },
    telemetry: { type: 'boolean' },
    'no-telemetry': { type: 'boolean' },
    attack: { type: 'string' },
    hosts: { type: 'string' },
    cheat: { type: 'string' },
    routing: { type: 'string' },
    requests: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return null;
  // parse accepted the line, so each of these words is a flag, not a value (strict parseArgs
  // refuses a separate value starting with '-'; --model=--telemetry is one other word). Neither
  // given: -1 <= -1, on.
  const telemetry = argv.lastIndexOf('--no-telemetry') <= argv.lastIndexOf('--telemetry');
  const intervalMs = number(values.interval ?? '3', '--interval', 0.05) * 1000;
  // The simulated GPU needs time per token to draw power in.
  const latencyMs = number(values['token-latency'] ?? '5', '--token-latency', telemetry ? 1 : 0);
  const tpm = values.tpm ?? 'auto';
  if (tpm !== 'auto' && tpm !== 'swtpm' && tpm !== 'device' && tpm !== 'none')
    throw new UsageError('--tpm is auto, swtpm, device or none');
  const attack = values.attack;
  if (attack !== undefined && !isAttack(attack))
    throw new UsageError(`--attack is one of ${Object.keys(ATTACKS).join(', ')}`);
  const routing = values.routing ?? 'auto';
  if (routing !== 'auto' && routing !== 'nginx' && routing !== 'direct')
    throw new UsageError('--routing is auto, nginx or direct');
  const hosts = number(values.hosts ?? '3', '--hosts', 2);
  if (!Number.isInteger(hosts) || hosts > MAX_HOSTS)
    throw new UsageError(`--hosts must be a whole number from 2 to ${MAX_HOSTS}, got ${values.hosts}`);
  const cheat = number(values.cheat ?? '0.2', '--cheat', 0);
  if (cheat > 1) throw new UsageError(`--cheat is a share from 0 to 1, got ${values.cheat}`);
  const requests = values.requests === undefined ? undefined : number(values.requests, '--requests', 1);
  if (requests !== undefined && (!Number.isInteger(requests) || requests > 10_000))
    throw new UsageError(`--requests must be a whole number from 1 to 10000, got ${values.requests}`);
  return {
    once: values.once === true || attack !== undefined,
    json: values.json === true,
    intervalMs,
    latencyMs,
    model: values.model ?? 'sample-7b',
    tpm,
    telemetry,
    attack: attack as AttackName | undefined,
    verbose: values.verbose === true,
    quiet: values.quiet === true,
    dataDir: values['data-dir'],
    hosts,
    cheat,
    routing,
    requests,
  };
}

function number(text: string, flag: string, min: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`${flag} must be a number >= ${min}, got ${text}`);
  return n;
}
