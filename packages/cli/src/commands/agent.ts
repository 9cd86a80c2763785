import { readFile } from 'node:fs/promises';
import { type AgentOptions, startAgent } from '@tmb/agent';
import { parseTcti } from '@tmb/agent/tpm';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';
import { untilSignal } from '../signals.ts';

const HELP = `usage: tmb agent --upstream URL --name NAME [options]

Runs the agent: an OpenAI-compatible reverse proxy in front of a model server that signs and
stores a receipt for every exchange and pushes receipts to the verifier.

  --upstream URL         the model server (e.g. http://127.0.0.1:8000)
  --name NAME            this agent's name as enrolled with the verifier
  --host HOST            listen address (default 127.0.0.1)
  --port N               listen port (default 0: any free port, printed when ready)
  --data-dir DIR         receipt store folder (default ./.tmb/agent-NAME)
  --verifier URL         verifier to push receipts to (token from TMB_AGENT_TOKEN or --token-file)
  --token-file FILE      file holding the agent token (never pass a token on the command line)
  --max-body BYTES       largest request body forwarded (default 16 MiB)
  --upstream-timeout MS  upstream idle timeout (default 600000)
  --durability MODE      normal (survives kill -9, default) or full (fsync: survives power loss)
  --nvidia-smi PATH      stream GPU telemetry to the verifier from this nvidia-smi (e.g. nvidia-smi,
                         or demo/bin/nvidia-smi for a simulated GPU); docs/telemetry.md
  --dcgm URL             stream GPU telemetry scraped from dcgm-exporter instead (e.g.
                         http://127.0.0.1:9400/metrics; run it with -c 100). It is no tool the agent
                         runs, so its receipts stay below L2 (telemetry.tool skipped)
  --telemetry-pid PID    also stream this process's CPU time and RSS from /proc (the model server);
                         repeatable; alone, streams only these (an engine on the CPU)
  --telemetry-ms MS      telemetry sampling period (default 100)
  --weights PATH         model weights to measure at start: a file (GGUF) or a directory
                         (safetensors); repeatable (docs/registry.md)
  --engine-exe PATH      the model server's executable, measured at start
  --engine-config PATH   a model server configuration file, measured at start; repeatable
  --tpm TCTI             device[:PATH] | swtpm:host=H,port=P | unix:PATH | none (default: /dev/tpmrm0;
                         without one the agent refuses to start unless --allow-no-tpm)
  --allow-no-tpm         with no TPM found, serve receipts at L0 only instead of refusing to start
  --tpm-transport T      wire | tools: quotes, PCR reads/extends and checkpoint signatures over one
                         resident connection to the TPM, or one tpm2-tools process each (default: wire
                         when the TPM answers on it, else tools; the start log says which, docs/tpm.md)
  --tpm-pcr N            application PCR for the key binding and measurement log, 8..15 (default 15)
  --checkpoint-ms MS     longest time between checkpoints/quotes while receipts arrive (default 1000)
  --checkpoint-every N   receipts that bring the next checkpoint/quote forward (default 500)
  --securityfs DIR       where the kernel's IMA log and boot event log are: DIR/ima/binary_runtime_measurements,
                         DIR/tpm0/binary_bios_measurements (default /sys/kernel/security when its IMA log is
                         readable; the simulated kernel's folder in development); sent with every quote
  --no-kernel-ima        send no kernel log: receipts cannot reach L1 (host.integrity fails)
  --host-poll-ms MS      how often the kernel's measurement count is checked for changes to quote (default 200)
  --metrics-listen HOST:PORT
                         also serve GET /metrics (Prometheus) there, to any client; without it /metrics
                         answers loopback clients only on the main port. GET /healthz is always the
                         agent's own (docs/api.md, "Agent endpoints"); neither is ever forwarded upstream

Options are checked before anything starts; the port is bound before the TPM is opened or the
host measured. A start that fails (busy port, TPM, store) closes what it started and exits 1.
Prints {"listening": URL, "keyId": HEX} on stdout when ready; stops on SIGINT or SIGTERM.`;

export async function main(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    upstream: { type: 'string' },
    name: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    'data-dir': { type: 'string' },
    verifier: { type: 'string' },
    'token-file': { type: 'string' },
    'max-body': { type: 'string' },
    'upstream-timeout': { type: 'string' },
    durability: { type: 'string' },
    'nvidia-smi': { type: 'string' },
    dcgm: { type: 'string' },
    'telemetry-pid': { type: 'string', multiple: true },
    'telemetry-ms': { type: 'string' },
    weights: { type: 'string', multiple: true },
    'engine-exe': { type: 'string' },
    'engine-config': { type: 'string', multiple: true },
    tpm: { type: 'string' },
    'allow-no-tpm': { type: 'boolean' },
    'tpm-transport': { type: 'string' },
    'tpm-pcr': { type: 'string' },
    'checkpoint-ms': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    securityfs: { type: 'string' },
    'no-kernel-ima': { type: 'boolean' },
    'host-poll-ms': { type: 'string' },
    'metrics-listen': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  if (!values.upstream || !values.name)
    throw new UsageError('--upstream and --name are required (see --help)');
  let verifier: { url: string; token: string } | undefined;
  if (values.verifier) {
    const token = values['token-file']
      ? (await readFile(values['token-file'], 'utf8')).trim()
      : (process.env.TMB_AGENT_TOKEN ?? '');
    if (token === '')
      throw new UsageError('--verifier needs a token: set TMB_AGENT_TOKEN or pass --token-file');
    verifier = { url: values.verifier, token };
  }
  if (values.durability !== undefined && values.durability !== 'normal' && values.durability !== 'full') {
    throw new UsageError('--durability is normal or full');
  }
  if (values.securityfs !== undefined && values['no-kernel-ima'] === true)
    throw new UsageError('--securityfs and --no-kernel-ima exclude each other');
  const kernel: AgentOptions['kernel'] =
    values['no-kernel-ima'] === true
      ? false
      : values.securityfs !== undefined
        ? { securityfs: values.securityfs }
        : undefined;
  let tpm: AgentOptions['tpm'] = 'auto';
  if (values.tpm === 'none') tpm = 'none';
  else if (values.tpm !== undefined) {
    tpm = parseTcti(values.tpm);
    if (tpm === undefined)
      throw new UsageError('--tpm is device[:PATH], swtpm:host=H,port=P, unix:PATH or none');
  }
  const tpmTransport = values['tpm-transport'];
  if (tpmTransport !== undefined && tpmTransport !== 'wire' && tpmTransport !== 'tools')
    throw new UsageError('--tpm-transport is wire or tools');
  const agent = await startAgent({
    tpm,
    ...(tpmTransport !== undefined ? { tpmTransport } : {}),
    ...(kernel !== undefined ? { kernel } : {}),
    ...(values['host-poll-ms'] !== undefined
      ? { hostPollMs: positive(values['host-poll-ms'], '--host-poll-ms') }
      : {}),
    allowNoTpm: values['allow-no-tpm'] === true,
    appPcr: values['tpm-pcr'] === undefined ? undefined : int(values['tpm-pcr'], '--tpm-pcr', 8, 15),
    checkpointIntervalMs:
      values['checkpoint-ms'] === undefined
        ? undefined
        : positive(values['checkpoint-ms'], '--checkpoint-ms'),
    checkpointEveryReceipts:
      values['checkpoint-every'] === undefined
        ? undefined
        : positive(values['checkpoint-every'], '--checkpoint-every'),
    upstream: values.upstream,
    name: values.name,
    host: values.host,
    port: values.port === undefined ? undefined : int(values.port, '--port', 0, MAX_PORT),
    ...(values['metrics-listen'] !== undefined
      ? { metricsListen: hostPort(values['metrics-listen'], '--metrics-listen') }
      : {}),
    dataDir: values['data-dir'] ?? `.tmb/agent-${values.name}`,
    verifier,
    maxBodyBytes: values['max-body'] === undefined ? undefined : positive(values['max-body'], '--max-body'),
    upstreamTimeoutMs:
      values['upstream-timeout'] === undefined
        ? undefined
        : positive(values['upstream-timeout'], '--upstream-timeout'),
    durability: values.durability as 'normal' | 'full' | undefined,
    ...telemetryOptions(values),
    measure: {
      weights: values.weights ?? [],
      ...(values['engine-exe'] ? { engineExe: values['engine-exe'] } : {}),
      engineConfig: values['engine-config'] ?? [],
    },
  });
  io.stdout(
    `${JSON.stringify({
      listening: agent.url,
      agent: agent.name,
      keyId: agent.keyId,
      tpmPcr: agent.tpmPcr,
      ...(agent.metricsUrl !== undefined ? { metrics: agent.metricsUrl } : {}),
    })}\n`,
  );
  await untilSignal();
  await agent.close();
  return 0;
}

const MAX_PORT = 65_535;

/**
 * The telemetry options from --nvidia-smi, --dcgm, --telemetry-pid and --telemetry-ms: none
 * of the first three, no telemetry. @throws UsageError
 */
function telemetryOptions(values: {
  'nvidia-smi'?: string;
  dcgm?: string;
  'telemetry-pid'?: string[];
  'telemetry-ms'?: string;
}): Pick<AgentOptions, 'telemetry'> {
  if (values['nvidia-smi'] !== undefined && values.dcgm !== undefined)
    throw new UsageError('--nvidia-smi and --dcgm exclude each other');
  const pids = (values['telemetry-pid'] ?? []).map((p) => positive(p, '--telemetry-pid'));
  const gpu = values['nvidia-smi'] !== undefined ? undefined : values.dcgm !== undefined ? 'dcgm' : 'none';
  if (gpu === 'none' && pids.length === 0) return {};
  return {
    telemetry: {
      ...(values['nvidia-smi'] !== undefined ? { nvidiaSmi: values['nvidia-smi'] } : { gpu }),
      ...(values.dcgm !== undefined ? { dcgmUrl: values.dcgm } : {}),
      ...(pids.length > 0 ? { pids } : {}),
      ...(values['telemetry-ms'] ? { intervalMs: positive(values['telemetry-ms'], '--telemetry-ms') } : {}),
    },
  };
}

/** A decimal integer flag in min..max. @throws UsageError */
function int(v: string, flag: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = /^[0-9]+$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max)
    throw new UsageError(
      max === Number.MAX_SAFE_INTEGER
        ? `${flag} must be an integer >= ${min}, got ${JSON.stringify(v)}`
        : `${flag} must be an integer ${min}..${max}, got ${JSON.stringify(v)}`,
    );
  return n;
}

/** A count or duration that must be above 0. @throws UsageError */
function positive(v: string, flag: string): number {
  return int(v, flag, 1);
}

/** HOST:PORT or [IPv6]:PORT. @throws UsageError */
function hostPort(v: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):([0-9]+)$/.exec(v);
  if (m === null)
    throw new UsageError(
      `${flag} is HOST:PORT (e.g. 127.0.0.1:9464 or [::1]:9464), got ${JSON.stringify(v)}`,
    );
  return { host: m[1] ?? m[2]!, port: int(m[3]!, flag, 0, MAX_PORT) };
}
