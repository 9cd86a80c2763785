import { mkdirSync } from 'node:fs';
import { createServer, Agent as HttpAgent, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Attester } from './attest/attester.ts';
import { AttestClient } from './attest/client.ts';
import { LogFeeder } from './attest/feeder.ts';
import { type AttestHost, openHost } from './attest/host.ts';
import { KernelEvidence } from './attest/kernel.ts';
import { handleLogRoute } from './attest/routes.ts';
import { chooseKernel, chooseTpm } from './hardware.ts';
import { type AgentPhase, type HealthSources, health, upstreamProbe } from './health.ts';
import { startHostMeasurement } from './host/run.ts';
import { servedDigests } from './host/served.ts';
import { generateAgentKey } from './keys.ts';
import { type AgentParts, listen, shutdown, urlOf } from './lifecycle.ts';
import { checkpointSigner } from './log/signer.ts';
import { ReceiptLog } from './log/store.ts';
import { AgentMetrics } from './metrics.ts';
import { type AgentOptions, logOrigin, resolveOptions } from './options.ts';
import { nowUs } from './proxy/clock.ts';
import { handleExchange, type ProxyContext } from './proxy/exchange.ts';
import { handleOpsRoute, type Ops } from './proxy/ops.ts';
import { handleWellKnown, WELL_KNOWN } from './proxy/wellknown.ts';
import { Pusher } from './push/pusher.ts';
import { ReceiptSigner } from './signer.ts';
import { ReceiptStore } from './store/store.ts';
import { TelemetryStream, telemetryExtension } from './telemetry/stream.ts';
import { resolveExecutable } from './telemetry/tool.ts';
import { UpstreamWatch } from './upstream/index.ts';

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
  /** The agent's Prometheus metrics, also served at `GET /metrics` (docs/api.md, "Agent endpoints"). */
  metrics: AgentMetrics;
  /** Base URL of the separate metrics listener (options.metricsListen), or undefined. */
  metricsUrl: string | undefined;
  /** Pushes every pending receipt to the verifier now. @throws AgentError AGENT_PUSH_FAILED */
  flush(): Promise<void>;
  /**
   * Stops accepting, lets exchanges in flight finish, pushes what it can, and closes the store:
   * once it resolves nothing the agent started still runs or writes into its data dir. Safe to call twice.
   */
  close(): Promise<void>;
}

/** How long an idle kept-alive connection to the model server is kept for reuse. */
const UPSTREAM_IDLE_MS = 4_000;

/** Logs as one JSON line on stderr; never includes tokens or keys. */
export type AgentLog = (event: string, detail: Record<string, unknown>) => void;

const stderrLog: AgentLog = (event, detail) => {
  process.stderr.write(
    `${JSON.stringify({ at: new Date().toISOString(), component: 'agent', event, ...detail })}\n`,
  );
};

/**
 * Starts the agent. Options are checked first (AGENT_CONFIG_INVALID, before anything is
 * touched); then it listens, answering 503 (`/healthz`: `starting`) until ready, so a busy
 * port fails before the TPM is opened or the host measured; then it generates this start's
 * signing key, opens the TPM and the receipt store, measures the host, and starts the pusher,
 * telemetry and attester. A start that fails at any step closes what it had started and throws.
 * @throws AgentError AGENT_CONFIG_INVALID, AGENT_LISTEN_FAILED, AGENT_STORE_FAILED; TpmDriverError
 *
 * @example
 *   const agent = await startAgent({ upstream: 'http://127.0.0.1:8000', dataDir: '/var/lib/tmb', name: 'gpu-01',
 *     verifier: { url: 'http://127.0.0.1:7300', token } });
 */
export async function startAgent(options: AgentOptions, log: AgentLog = stderrLog): Promise<RunningAgent> {
  const opts = resolveOptions(options);
  const key = generateAgentKey(opts.name);
  const metrics = new AgentMetrics();
  const parts: AgentParts = { exchanges: new Set(), receipts: new Set() };
  let phase: AgentPhase = 'starting';
  let serve: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const healthSources: HealthSources = {
    phase: () => phase,
    agent: opts.name,
    keyId: key.keyId,
    tpm: false,
    verifier: opts.verifier !== undefined,
    seq: () => 0,
    pending: () => 0,
    probeStore: () => {},
    lastReceiptAt: () => metrics.lastReceiptAt,
    lastReceiptFailure: () => metrics.lastReceiptFailure,
    lastPushAt: () => metrics.lastPushAt,
    lastQuoteAt: () => parts.attester?.quoted?.at ?? null,
    upstream: upstreamProbe(new URL(opts.upstream)),
  };
  const ops: Ops = {
    health: () => health(healthSources),
    metrics: () => metrics.exposition(),
  };
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 60_000 }, (req, res) => {
    if (handleOpsRoute(req, res, ops)) return;
    if (serve !== undefined) {
      serve(req, res);
      return;
    }
    req.resume();
    const body = JSON.stringify({ error: { code: 'AGENT_STARTING', message: `the agent is ${phase}` } });
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', connection: 'close' });
    res.end(body);
  });
  const bound = await listen(server, opts.port, opts.host);
  parts.server = server;
  try {
    if (opts.metricsListen !== undefined) {
      const m = createServer((req, res) => {
        if (!handleOpsRoute(req, res, ops, true)) {
          req.resume();
          res.writeHead(404).end();
        }
      });
      await listen(m, opts.metricsListen.port, opts.metricsListen.host, 'the metrics listener');
      parts.metricsServer = m;
    }
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const tcti = chooseTpm(opts, log);
    // Before openHost extends the application PCR: a kernel log rules out PCRs 8-10.
    parts.kernelLog = tcti === undefined ? undefined : chooseKernel(opts, log);
    // Progress of the steps that take seconds (docs/cli.md, "Progress").
    if (tcti !== undefined)
      log('start_step', { step: 'tpm', message: 'opening the TPM: keys, AK, key binding...' });
    const host: AttestHost | undefined =
      tcti === undefined
        ? undefined
        : await openHost({ tcti, dataDir: opts.dataDir, pcr: opts.appPcr, publicKey: key.publicKey });
    parts.host = host;
    healthSources.tpm = host !== undefined;
    // After the key event (openHost logs it), so the verifier attributes these entries to this key.
    log('start_step', { step: 'measure', message: 'measuring the agent build, engine and weights...' });
    const hostMeasure = await startHostMeasurement({
      spec: opts.measure,
      log: host?.measure,
      publicKey: key.publicKey,
      pcr: opts.appPcr,
      name: opts.name,
      verifier: opts.verifier,
      emit: log,
    });
    parts.hostMeasure = hostMeasure;
    const store = new ReceiptStore(opts.dataDir, opts.durability);
    parts.store = store;
    const receiptLog = ReceiptLog.open(store.db);
    const feeder = new LogFeeder(
      receiptLog,
      store,
      (err) => log('receipt_log_failed', { error: String(err) }),
      {
        onRun: (run) => log('log_run_started', { ...run }),
      },
    );
    parts.feeder = feeder;
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
            onOutcome: (pushed, err) =>
              err === undefined ? metrics.pushed(pushed) : metrics.pushFailed(err.code ?? 'UNKNOWN'),
          },
          log,
        )
      : undefined;
    parts.pusher = pusher;
    const telemetry = opts.telemetry
      ? new TelemetryStream(opts.verifier && { ...opts.verifier, name: opts.name }, opts.telemetry, log)
      : undefined;
    parts.telemetry = telemetry;
    telemetry?.start();
    const upstream = new URL(opts.upstream);
    // `timeout` bounds how long a kept-alive upstream socket waits idle in the pool (less when the
    // server announces `Keep-Alive: timeout=N`: N-1 s; Node applies that hint only when `timeout` is
    // set). Without it the pool kept sockets until the server closed them (Node 5 s, uvicorn 5 s), and
    // one whose close this busy process had not yet read was reused and reset: a 502 (soak bench).
    const agentOpts = {
      keepAlive: true,
      maxFreeSockets: 256,
      scheduling: 'lifo' as const,
      timeout: UPSTREAM_IDLE_MS,
    };
    parts.upstreamAgent =
      upstream.protocol === 'https:' ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts);
    const ctx: ProxyContext = {
      opts,
      signer: {
        // Tracked, so close() waits for the receipt of an exchange whose client already left.
        issue: (fields) => {
          const p = signer.issue(fields);
          parts.receipts.add(p);
          const done = () => parts.receipts.delete(p);
          p.then(done, done);
          return p;
        },
      },
      upstream,
      upstreamAgent: parts.upstreamAgent,
      onReceipt: (outcome) => {
        metrics.receipt(outcome);
        pusher?.wake();
        attester.wake();
      },
      receiptUrl: (id) =>
        opts.verifier ? `${opts.verifier.url.replace(/\/$/, '')}/v1/receipts/${id}` : undefined,
      log: (event, detail) => {
        if (event === 'receipt_failed') metrics.receiptFailed(String(detail.code));
        log(event, detail);
      },
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
      ...(parts.kernelLog !== undefined ? { kernel: new KernelEvidence(parts.kernelLog, log) } : {}),
      telemetryTool: opts.telemetry ? resolveExecutable(opts.telemetry.nvidiaSmi ?? 'nvidia-smi') : null,
      pollMs: opts.hostPollMs,
      // Which local process serves --upstream, re-checked each quote (docs/upstream.md).
      ...(host !== undefined ? { upstream: new UpstreamWatch(opts.upstream) } : {}),
    });
    parts.attester = attester;
    attester.onQuoted((q) => metrics.quoted(q.ms.quote));
    metrics.attach({
      pending: () => store.pendingCount(),
      oldestPendingUs: () => {
        const row = store.unpushed(1)[0];
        return row === undefined ? null : receiptEndUs(row.body);
      },
      probeStore: () => {
        store.db.prepare('SELECT 1').get();
        return true;
      },
      checkpoints: () => receiptLog.latestCheckpoint()?.seq ?? 0,
      ...(telemetry !== undefined ? { telemetry: () => telemetry.counts } : {}),
      nowUs,
    });
    Object.assign(healthSources, {
      seq: () => receiptLog.nextSeq,
      pending: () => store.pendingCount(),
      probeStore: () => store.db.prepare('SELECT 1').get(),
    });
    const self = { name: opts.name, keyId: key.keyId, publicKey: key.publicKey };
    serve = (req, res) => {
      if (req.url?.startsWith(WELL_KNOWN)) {
        if (handleLogRoute(req, res, receiptLog)) return;
        handleWellKnown(req, res, store, self);
        return;
      }
      const t0 = performance.now();
      const closed = new Promise<void>((resolve) =>
        res.once('close', () => {
          metrics.request((performance.now() - t0) / 1000, res.writableFinished ? res.statusCode : null);
          // After the exchange's own 'close' listener (added later) has started its receipt.
          queueMicrotask(resolve);
        }),
      );
      const run = handleExchange(ctx, req, res).catch((err: unknown) => {
        log('exchange_failed', { error: String(err) });
        res.destroy();
      });
      // Both: a client gone while sending its body gets its receipt inside handleExchange.
      const ended = Promise.all([closed, run]).then(() => {});
      parts.exchanges.add(ended);
      void ended.then(() => parts.exchanges.delete(ended));
    };
    pusher?.wake();
    attester.start();
    phase = 'serving';
    let closing: Promise<void> | undefined;
    return {
      url: urlOf(bound),
      metricsUrl: parts.metricsServer ? urlOf(parts.metricsServer.address() as AddressInfo) : undefined,
      name: opts.name,
      keyId: key.keyId,
      publicKey: key.publicKey,
      store,
      log: receiptLog,
      attester,
      tpmPcr: host?.pcr ?? null,
      telemetry,
      metrics,
      flush: async () => {
        if (pusher) await pusher.flush();
      },
      close: () => {
        phase = 'stopping';
        closing ??= shutdown(parts, log);
        return closing;
      },
    };
  } catch (err) {
    phase = 'stopping';
    await shutdown(parts, log);
    throw err;
  }
}

/** `time.end` of a stored receipt body (Unix µs), or null when it cannot be read. */
function receiptEndUs(body: Uint8Array): number | null {
  try {
    const end = (JSON.parse(Buffer.from(body).toString('utf8')) as { time?: { end?: unknown } }).time?.end;
    return typeof end === 'number' ? end : null;
  } catch {
    return null;
  }
}
