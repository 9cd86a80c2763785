import { isLogAgentName } from '@tmb/core/log';
import { AgentError } from './errors.ts';
import type { HostSpec } from './measure/spec.ts';
import { checkSourceOptions } from './telemetry/sources.ts';
import type { TelemetryStreamOptions } from './telemetry/stream.ts';
import type { TctiConfig } from './tpm/tcti.ts';

/** How the agent runs. Every field but `upstream`, `dataDir` and `name` has a safe default. */
export interface AgentOptions {
  /** Base URL of the unchanged model server (vLLM, llama.cpp, Ollama, TGI...), e.g. `http://127.0.0.1:8000`. */
  upstream: string;
  /** Address to listen on. Default 127.0.0.1: a proxy open to the network is the operator's explicit choice. */
  host?: string;
  /** Port to listen on. Default 0: an ephemeral port, reported in RunningAgent.url. */
  port?: number;
  /** Folder for the receipt store (receipts.db). Created if missing. */
  dataDir: string;
  /** The agent's name as enrolled with the verifier (printable ASCII, no spaces, at most 128 bytes). */
  name: string;
  /** Where to push receipts. Left out: receipts are kept and served locally only. */
  verifier?: { url: string; token: string };
  /** Largest request body forwarded; larger ones get 413 and nothing is forwarded. Default 16 MiB. */
  maxBodyBytes?: number;
  /** Time allowed for the upstream to answer with headers, and between two body chunks. Default 600 s:
   * a long prompt on a loaded server can take minutes before its first token. */
  upstreamTimeoutMs?: number;
  /** Most connections open to the model server at once; requests past them wait for a free one.
   * Default 1024: far more than a model server runs in parallel, yet a bound on sockets and memory. */
  upstreamConnections?: number;
  /** `normal` (default): a committed receipt survives the agent's crash or kill -9 (SQLite WAL,
   * synchronous=NORMAL). `full`: it also survives power loss (fsync per group commit), at a throughput cost. */
  durability?: 'normal' | 'full';
  /** Receipts per push to the verifier. Default 500 (the verifier accepts at most 1000). */
  pushBatch?: number;
  /** Longest wait between a receipt's commit and its push. Default 50 ms. */
  pushIntervalMs?: number;
  /** Timeout of each call to the verifier. Default 10 s. */
  verifierTimeoutMs?: number;
  /**
   * The TPM (docs/evidence.md). `none` (the default of this API; `tmb agent` defaults to
   * `auto`): no TPM, receipts reach L0 only. `auto`: the hardware TPM at /dev/tpmrm0; when there
   * is none, the agent refuses to start unless `allowNoTpm`. A TctiConfig: that TPM (swtpm over
   * TCP or a Unix socket, or a device path); the agent refuses to start when it does not answer.
   */
  tpm?: TctiConfig | 'auto' | 'none';
  /** With `tpm: 'auto'` and no TPM present: serve at L0 (true) or refuse to start (false, the default). */
  allowNoTpm?: boolean;
  /** The hardware TPM `tpm: 'auto'` looks for. Default /dev/tpmrm0 (the kernel's resource manager). */
  tpmDevice?: string;
  /**
   * How quotes, PCR reads/extends and checkpoint signatures reach the TPM (TpmDriverOptions
   * .transport, docs/tpm.md): `auto` (default) the resident connection when the TPM answers on
   * it, else a tpm2-tools process each; `wire` or `tools` to insist. The start log says which.
   */
  tpmTransport?: 'auto' | 'wire' | 'tools';
  /**
   * Application PCR (sha256 bank) that the signing-key binding and the agent's measurement log
   * are extended into: 8..15. Default 15 (on most hosts only a measured-UKI systemd boot touches
   * it). 16 and 23 are refused: locality 0 may reset them (docs/tpm.md).
   */
  appPcr?: number;
  /** Longest time between two checkpoints (and quotes) while receipts arrive. Default 1000 ms. */
  checkpointIntervalMs?: number;
  /** Receipts that bring the next checkpoint forward (to checkpointMinIntervalMs after the last). Default 500: under load, a quote every 500 ms. */
  checkpointEveryReceipts?: number;
  /** Shortest time between two checkpoints (and quotes): at most 2 a second by default (500 ms). */
  checkpointMinIntervalMs?: number;
  /** GPU telemetry streamed to the verifier (docs/telemetry.md). Left out: none is collected. */
  telemetry?: TelemetryStreamOptions;
  /** Weights, engine executable and configuration, own build: measured at start into the measurement log (docs/registry.md). Left out: nothing is measured. */
  measure?: HostSpec;
  /**
   * The kernel's IMA log and the boot event log, sent with every quote (docs/evidence.md,
   * "Kernel log"): `{ securityfs }` reads `<securityfs>/ima/binary_runtime_measurements` and
   * `<securityfs>/tpm0/binary_bios_measurements` (the agent refuses to start when the first is
   * not readable there). Left out: `/sys/kernel/security` when its IMA log exists and is
   * readable, else none. `false` or none found: the agent logs `kernel_ima_absent` once, sends
   * `"kernel": null`, and its receipts cannot reach L1 (the verifier fails host.integrity with
   * KERNEL_LOG_ABSENT). Used only with a TPM. With a kernel log the application PCR must be
   * 11..15: 0-9 hold measured boot and 10 the kernel's log.
   */
  kernel?: { securityfs: string } | false;
  /**
   * How often the kernel's measurement count (`ima/runtime_measurements_count`) and the agent's
   * measurement log are checked for growth, ms. Default 200: a change on the host is quoted
   * within about pollMs + checkpointMinIntervalMs + one quote (under 2 s) with no traffic; the
   * check reads a few bytes.
   */
  hostPollMs?: number;
  /**
   * A second listener that serves only `GET /metrics` (Prometheus text), e.g. `{ host: '0.0.0.0',
   * port: 9464 }` for a scraper on another machine. Left out: `/metrics` is served on the
   * main listener to loopback clients only (127.0.0.1, ::1), so a proxy open to the network does
   * not publish its counters.
   */
  metricsListen?: { host: string; port: number };
}

export type ResolvedAgentOptions = Required<
  Omit<AgentOptions, 'verifier' | 'telemetry' | 'measure' | 'kernel' | 'metricsListen'>
> &
  Pick<AgentOptions, 'verifier' | 'telemetry' | 'measure' | 'kernel' | 'metricsListen'>;

/** Where the kernel's securityfs is mounted on a Linux host. */
export const DEFAULT_SECURITYFS = '/sys/kernel/security';

/** PCRs an agent may bind into: 8..15 (16 and 23 are resettable at locality 0, docs/tpm.md). */
export function isBindablePcr(pcr: number): boolean {
  return Number.isInteger(pcr) && pcr >= 8 && pcr <= 15;
}

/**
 * Fills in defaults and checks the options.
 * @throws AgentError AGENT_CONFIG_INVALID
 */
export function resolveOptions(o: AgentOptions): ResolvedAgentOptions {
  let upstream: URL;
  try {
    upstream = new URL(o.upstream);
  } catch (cause) {
    throw new AgentError('AGENT_CONFIG_INVALID', `upstream ${JSON.stringify(o.upstream)} is not a URL`, {
      cause,
    });
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `upstream must be http or https, found ${upstream.protocol}`,
    );
  }
  if (!isLogAgentName(o.name)) {
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      'agent name must be 1 to 128 printable ASCII characters, no spaces and no "+" (it names the checkpoint key)',
    );
  }
  const r: ResolvedAgentOptions = {
    upstream: upstream.href.replace(/\/$/, ''),
    host: o.host ?? '127.0.0.1',
    port: o.port ?? 0,
    dataDir: o.dataDir,
    name: o.name,
    verifier: o.verifier,
    maxBodyBytes: o.maxBodyBytes ?? 16 * 1024 * 1024,
    upstreamTimeoutMs: o.upstreamTimeoutMs ?? 600_000,
    upstreamConnections: o.upstreamConnections ?? 1024,
    durability: o.durability ?? 'normal',
    pushBatch: Math.min(o.pushBatch ?? 500, 1000),
    pushIntervalMs: o.pushIntervalMs ?? 50,
    verifierTimeoutMs: o.verifierTimeoutMs ?? 10_000,
    tpm: o.tpm ?? 'none',
    allowNoTpm: o.allowNoTpm ?? false,
    tpmDevice: o.tpmDevice ?? '/dev/tpmrm0',
    tpmTransport: o.tpmTransport ?? 'auto',
    appPcr: o.appPcr ?? 15,
    checkpointIntervalMs: o.checkpointIntervalMs ?? 1000,
    checkpointEveryReceipts: o.checkpointEveryReceipts ?? 500,
    checkpointMinIntervalMs: o.checkpointMinIntervalMs ?? 500,
    measure: o.measure,
    telemetry: o.telemetry,
    kernel: o.kernel,
    hostPollMs: o.hostPollMs ?? 200,
    metricsListen: o.metricsListen,
  };
  if (r.kernel !== undefined && r.kernel !== false && typeof r.kernel.securityfs !== 'string')
    throw new AgentError('AGENT_CONFIG_INVALID', 'kernel.securityfs must be a folder path');
  if (!isBindablePcr(r.appPcr))
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `appPcr must be 8..15 (16 and 23 are resettable), found ${r.appPcr}`,
    );
  checkPositive(r, [
    'maxBodyBytes',
    'upstreamTimeoutMs',
    'upstreamConnections',
    'pushBatch',
    'pushIntervalMs',
    'verifierTimeoutMs',
    'checkpointIntervalMs',
    'checkpointEveryReceipts',
    'checkpointMinIntervalMs',
    'hostPollMs',
  ]);
  checkListen('', r);
  if (r.metricsListen !== undefined) checkListen('metricsListen.', r.metricsListen);
  if (r.durability !== 'normal' && r.durability !== 'full')
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `durability must be normal or full, found ${String(r.durability)}`,
    );
  if (r.verifier !== undefined) checkVerifier(r.verifier);
  if (r.telemetry !== undefined) {
    checkPositive(
      r.telemetry,
      ['intervalMs', 'pushIntervalMs', 'maxPendingBatches', 'pushBatches', 'timeoutMs'],
      'telemetry.',
    );
    checkSourceOptions(r.telemetry);
  }
  if (r.measure?.watchMs !== undefined) checkPositive(r.measure, ['watchMs'], 'measure.');
  return r;
}

/** Largest TCP port; 0 asks the system for any free one. */
const MAX_PORT = 65_535;

/** Each named field, when present, must be a positive safe integer. @throws AgentError AGENT_CONFIG_INVALID */
function checkPositive<T extends object>(o: T, keys: readonly (keyof T & string)[], prefix = ''): void {
  for (const k of keys) {
    const v = o[k];
    if (v === undefined && prefix !== '') continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0)
      throw new AgentError(
        'AGENT_CONFIG_INVALID',
        `${prefix}${k} must be a positive integer, found ${String(v)}`,
      );
  }
}

/** A listen address: a non-empty host and a port 0..65535. @throws AgentError AGENT_CONFIG_INVALID */
function checkListen(prefix: string, l: { host: string; port: number }): void {
  if (typeof l.host !== 'string' || l.host === '' || /\s/.test(l.host))
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `${prefix}host must be an address to listen on, found ${JSON.stringify(l.host)}`,
    );
  if (!Number.isSafeInteger(l.port) || l.port < 0 || l.port > MAX_PORT)
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `${prefix}port must be an integer 0..${MAX_PORT} (0: any free port), found ${String(l.port)}`,
    );
}

/** The verifier: an http(s) URL and a non-empty token (never echoed). @throws AgentError AGENT_CONFIG_INVALID */
function checkVerifier(v: { url: string; token: string }): void {
  let url: URL | undefined;
  try {
    url = new URL(v.url);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `verifier.url must be an http or https URL, found ${JSON.stringify(v.url)}`,
    );
  if (typeof v.token !== 'string' || v.token === '')
    throw new AgentError('AGENT_CONFIG_INVALID', 'verifier.token must not be empty');
}
