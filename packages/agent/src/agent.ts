import { accessSync, constants, existsSync, mkdirSync } from 'node:fs';
import { createServer, Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Attester } from './attest/attester.ts';
import { AttestClient } from './attest/client.ts';
import { LogFeeder } from './attest/feeder.ts';
import { type AttestHost, openHost } from './attest/host.ts';
import { KERNEL_PCR, KernelEvidence } from './attest/kernel.ts';
import { handleLogRoute } from './attest/routes.ts';
import { AgentError } from './errors.ts';
import { startHostMeasurement } from './host/run.ts';
import { servedDigests } from './host/served.ts';
import { KernelLog } from './kernel/reader.ts';
import { generateAgentKey } from './keys.ts';
import { checkpointSigner } from './log/signer.ts';
import { ReceiptLog } from './log/store.ts';
import {
  type AgentOptions,
  DEFAULT_SECURITYFS,
  logOrigin,
  type ResolvedAgentOptions,
  resolveOptions,
} from './options.ts';
import { nowUs } from './proxy/clock.ts';
import { handleExchange, type ProxyContext } from './proxy/exchange.ts';
import { handleWellKnown, WELL_KNOWN } from './proxy/wellknown.ts';
import { Pusher } from './push/pusher.ts';
import { ReceiptSigner } from './signer.ts';
import { ReceiptStore } from './store/store.ts';
import { TelemetryStream, telemetryExtension } from './telemetry/stream.ts';
import { resolveExecutable } from './telemetry/tool.ts';
import { TpmDriverError } from './tpm/errors.ts';
import type { TctiConfig } from './tpm/tcti.ts';
import { UpstreamWatch } from './upstream/index.ts';

const CLOSE_GRACE_MS = 5_000;

/** A running agent. */
export interface RunningAgent {
  /** Base URL the router sends traffic to. */
  url: string;
  name: string;
  keyId: string;
  publicKey: Uint8Array;
  store: ReceiptStore;
  /** The receipt log (leaf i = the receipt with seq i). */
  log: ReceiptLog;
  /** Checkpoints and, with a TPM, quotes over them (`attester.quoted`, `onQuoted`). */
  attester: Attester;
  /** The TPM application PCR the key is bound into, or null when the agent runs without a TPM (L0 only). */
  tpmPcr: number | null;
  /** The GPU telemetry stream (options.telemetry); every checkpoint carries its head (`tmb-telemetry` line). */
  telemetry: TelemetryStream | undefined;
  /** Pushes every pending receipt to the verifier now. @throws AgentError AGENT_PUSH_FAILED */
  flush(): Promise<void>;
  /** Stops accepting, lets exchanges in flight finish, pushes what it can, and closes the store. */
  close(): Promise<void>;
}

/** Logs as one JSON line on stderr; never includes tokens or keys. */
export type AgentLog = (event: string, detail: Record<string, unknown>) => void;

const stderrLog: AgentLog = (event, detail) => {
  process.stderr.write(
    `${JSON.stringify({ at: new Date().toISOString(), component: 'agent', event, ...detail })}\n`,
  );
};

/**
 * Starts the agent: generates this start's signing key, opens the receipt store, starts the
 * pusher and listens.
 *
 * @example
 *   const agent = await startAgent({ upstream: 'http://127.0.0.1:8000', dataDir: '/var/lib/tmb', name: 'gpu-01',
 *     verifier: { url: 'http://127.0.0.1:7300', token } });
 */
export async function startAgent(options: AgentOptions, log: AgentLog = stderrLog): Promise<RunningAgent> {
  const opts = resolveOptions(options);
  const key = generateAgentKey(opts.name);
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const tcti = chooseTpm(opts, log);
  // Before openHost extends the application PCR: a kernel log rules out PCRs 8-10.
  const kernelLog = tcti === undefined ? undefined : chooseKernel(opts, log);
  const host: AttestHost | undefined =
    tcti === undefined
      ? undefined
      : await openHost({ tcti, dataDir: opts.dataDir, pcr: opts.appPcr, publicKey: key.publicKey });
  // After the key event (openHost logs it), so the verifier attributes these entries to this key.
  const hostMeasure = await startHostMeasurement({
    spec: opts.measure,
    log: host?.measure,
    publicKey: key.publicKey,
    pcr: opts.appPcr,
    name: opts.name,
    verifier: opts.verifier,
    emit: log,
  });
  const store = new ReceiptStore(opts.dataDir, opts.durability);
  let receiptLog: ReceiptLog;
  try {
    receiptLog = ReceiptLog.open(store.db);
  } catch (err) {
    await store.close();
    throw err;
  }
  const feeder = new LogFeeder(receiptLog, store, (err) => log('receipt_log_failed', { error: String(err) }));
  feeder.catchUp();
  // Receipt v2 `served`: the weights and engine measured at start, the same for every receipt of this key.
  const signer = new ReceiptSigner(opts.name, key, store, nowUs(), servedDigests(hostMeasure?.measured));
  signer.onStored = (row) => feeder.add(row);
  const pusher = opts.verifier
    ? new Pusher(
        store,
        {
          url: opts.verifier.url,
          token: opts.verifier.token,
          name: opts.name,
          batch: opts.pushBatch,
          intervalMs: opts.pushIntervalMs,
          timeoutMs: opts.verifierTimeoutMs,
        },
        log,
      )
    : undefined;
  const telemetry = options.telemetry
    ? new TelemetryStream(opts.verifier && { ...opts.verifier, name: opts.name }, options.telemetry, log)
    : undefined;
  telemetry?.start();
  const upstream = new URL(opts.upstream);
  const agentOpts = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
  const ctx: ProxyContext = {
    opts,
    signer,
    upstream,
    upstreamAgent: upstream.protocol === 'https:' ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts),
    onReceipt: () => {
      pusher?.wake();
      attester.wake();
    },
    receiptUrl: (id) =>
      opts.verifier ? `${opts.verifier.url.replace(/\/$/, '')}/v1/receipts/${id}` : undefined,
    log,
  };
  const origin = logOrigin(opts.name);
  const attester = new Attester({
    log: receiptLog,
    feeder,
    origin,
    signer: checkpointSigner(origin, key),
    // The telemetry chain's head, so a quoted checkpoint commits to every batch cut before it.
    extensions: () => {
      const line = telemetry && telemetryExtension(telemetry);
      return line === undefined ? [] : [line];
    },
    agent: opts.name,
    ...(host !== undefined ? { host } : {}),
    ...(host !== undefined && opts.verifier
      ? { client: new AttestClient({ ...opts.verifier, timeoutMs: opts.verifierTimeoutMs }) }
      : {}),
    push: async (size) => {
      if (pusher) await pusher.pushedThrough(size, opts.verifierTimeoutMs);
      // The verifier checks the checkpoint's telemetry head against the batches it holds.
      await telemetry?.flush();
    },
    schedule: {
      intervalMs: opts.checkpointIntervalMs,
      everyReceipts: opts.checkpointEveryReceipts,
      minIntervalMs: opts.checkpointMinIntervalMs,
    },
    emit: log,
    ...(kernelLog !== undefined ? { kernel: new KernelEvidence(kernelLog, log) } : {}),
    telemetryTool: options.telemetry ? resolveExecutable(options.telemetry.nvidiaSmi ?? 'nvidia-smi') : null,
    pollMs: opts.hostPollMs,
    // Which local process serves --upstream, re-checked each quote (docs/upstream.md).
    ...(host !== undefined ? { upstream: new UpstreamWatch(opts.upstream) } : {}),
  });
  const self = { name: opts.name, keyId: key.keyId, publicKey: key.publicKey };
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 60_000 }, (req, res) => {
    if (req.url?.startsWith(WELL_KNOWN)) {
      if (handleLogRoute(req, res, receiptLog)) return;
      handleWellKnown(req, res, store, self);
      return;
    }
    handleExchange(ctx, req, res).catch((err: unknown) => {
      log('exchange_failed', { error: String(err) });
      res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const hostText = address.includes(':') ? `[${address}]` : address;
  pusher?.wake();
  attester.start();
  let closing: Promise<void> | undefined;
  return {
    url: `http://${hostText}:${port}`,
    name: opts.name,
    keyId: key.keyId,
    publicKey: key.publicKey,
    store,
    log: receiptLog,
    attester,
    tpmPcr: host?.pcr ?? null,
    telemetry,
    flush: async () => {
      if (pusher) await pusher.flush();
    },
    close: () => {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // Exchanges in flight get a grace period to finish (their receipts are written), then are cut.
          setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
        });
        ctx.upstreamAgent.destroy();
        await telemetry?.close();
        feeder.flush();
        hostMeasure?.stop();
        await attester.close();
        await kernelLog?.close();
        await host?.driver.close();
        await host?.measure.close();
        if (pusher) {
          await pusher.flush().catch(() => {});
          pusher.close();
        }
        await store.close();
      })();
      return closing;
    },
  };
}

/**
 * The TPM to use, or undefined to run without one (L0 only), said plainly in the log.
 * @throws TpmDriverError TPM_UNAVAILABLE for `auto` with no /dev/tpmrm0 unless allowNoTpm
 */
function chooseTpm(opts: ResolvedAgentOptions, log: AgentLog): TctiConfig | undefined {
  if (opts.tpm === 'none') {
    log('tpm_none', { message: 'running without a TPM: receipts reach L0 only, never L1' });
    return undefined;
  }
  if (opts.tpm !== 'auto') return opts.tpm;
  if (existsSync(opts.tpmDevice)) return { kind: 'device', path: opts.tpmDevice };
  if (opts.allowNoTpm) {
    log('tpm_absent', {
      message: `no TPM at ${opts.tpmDevice} and none configured: serving at L0 only (allowNoTpm)`,
    });
    return undefined;
  }
  throw new TpmDriverError(
    'TPM_UNAVAILABLE',
    `no TPM: ${opts.tpmDevice} does not exist and no --tpm was given; give --tpm swtpm:host=H,port=P, --tpm unix:PATH or --tpm device:PATH, or --allow-no-tpm to serve receipts at L0 only`,
  );
}

/**
 * The kernel's IMA log to send with quotes, or undefined (logged once as `kernel_ima_absent`).
 * @throws AgentError AGENT_CONFIG_INVALID for a configured securityfs without a readable log, or
 *   an application PCR of 8-10 alongside a kernel log
 */
function chooseKernel(opts: ResolvedAgentOptions, log: AgentLog): KernelLog | undefined {
  const absent = (why: string) => {
    log('kernel_ima_absent', {
      message: `${why}: receipts cannot reach L1 (the verifier fails host.integrity with KERNEL_LOG_ABSENT)`,
    });
    return undefined;
  };
  if (opts.kernel === false) return absent('kernel IMA log turned off');
  const securityfs = opts.kernel?.securityfs ?? DEFAULT_SECURITYFS;
  const path = join(securityfs, 'ima', 'binary_runtime_measurements');
  try {
    accessSync(path, constants.R_OK);
  } catch {
    if (opts.kernel !== undefined)
      throw new AgentError(
        'AGENT_CONFIG_INVALID',
        `no readable kernel IMA log at ${path} (kernel.securityfs)`,
      );
    return absent(`no kernel IMA log at ${path}`);
  }
  if (opts.appPcr <= KERNEL_PCR)
    throw new AgentError(
      'AGENT_CONFIG_INVALID',
      `appPcr ${opts.appPcr} is a measured-boot or IMA PCR (0-9 boot, 10 the kernel's log): use 11..15 with a kernel log`,
    );
  return new KernelLog({ securityfs });
}
