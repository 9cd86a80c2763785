import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Attester } from './attest/attester.ts';
import { type AgentPhase, type HealthSources, health, upstreamProbe } from './health.ts';
import { type AgentParts, listen, shutdown, urlOf } from './lifecycle.ts';
import type { ReceiptLog } from './log/tree.ts';
import { startHostMeasurement } from './measure/start.ts';
import { AgentMetrics } from './metrics.ts';
import { type AgentOptions, resolveOptions } from './options.ts';
import {
  agentHandler,
  attachSources,
  openAttestation,
  openReceipts,
  proxyContext,
  startAttester,
  startPusher,
} from './parts.ts';
import { generateAgentKey } from './receipt/key.ts';
import { servedDigests } from './receipt/served.ts';
import type { ReceiptStore } from './receipt/store.ts';
import { handleOpsRoute, type Ops } from './routes/ops.ts';
import { TelemetryStream } from './telemetry/stream.ts';

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
  // Until start is done: /healthz answers `starting`, the store and log are not there yet.
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
  const server = mainServer(
    ops,
    () => phase,
    () => serve,
  );
  const bound = await listen(server, opts.port, opts.host);
  parts.server = server;
  try {
    if (opts.metricsListen !== undefined) parts.metricsServer = await listenMetrics(opts.metricsListen, ops);
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const host = await openAttestation(opts, key, parts, log);
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
    const served = servedDigests(hostMeasure?.measured);
    const { store, receiptLog, feeder, signer } = openReceipts(opts, key, parts, served, log);
    const pusher = startPusher(opts, store, metrics, log);
    parts.pusher = pusher;
    const telemetry = opts.telemetry
      ? new TelemetryStream(opts.verifier && { ...opts.verifier, name: opts.name }, opts.telemetry, log)
      : undefined;
    parts.telemetry = telemetry;
    telemetry?.start();
    const ctx = proxyContext(
      opts,
      signer,
      parts,
      metrics,
      () => {
        pusher?.wake();
        attester.wake();
      },
      log,
    );
    const attester = startAttester({ opts, key, parts, receiptLog, feeder, host, pusher, telemetry, log });
    parts.attester = attester;
    attester.onQuoted((q) => metrics.quoted(q.ms.quote));
    attachSources(metrics, healthSources, store, receiptLog, telemetry);
    const self = { name: opts.name, keyId: key.keyId, publicKey: key.publicKey };
    serve = agentHandler({ ctx, store, receiptLog, self, metrics, parts, log });
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

/**
 * The main listener: the operator's endpoints always, then `serve()` once start is done; until
 * then (and only then) 503 AGENT_STARTING, closing the connection.
 */
function mainServer(
  ops: Ops,
  phase: () => AgentPhase,
  serve: () => ((req: IncomingMessage, res: ServerResponse) => void) | undefined,
): Server {
  return createServer({ keepAliveTimeout: 65_000, headersTimeout: 60_000 }, (req, res) => {
    if (handleOpsRoute(req, res, ops)) return;
    const handler = serve();
    if (handler !== undefined) {
      handler(req, res);
      return;
    }
    req.resume();
    const body = JSON.stringify({ error: { code: 'AGENT_STARTING', message: `the agent is ${phase()}` } });
    res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', connection: 'close' });
    res.end(body);
  });
}

/** The separate metrics listener (options.metricsListen): /metrics and /healthz only, 404 for the rest. */
async function listenMetrics(at: { host: string; port: number }, ops: Ops): Promise<Server> {
  const m = createServer((req, res) => {
    if (!handleOpsRoute(req, res, ops, true)) {
      req.resume();
      res.writeHead(404).end();
    }
  });
  await listen(m, at.port, at.host, 'the metrics listener');
  return m;
}
