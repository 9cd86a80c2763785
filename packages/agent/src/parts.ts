import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ReceiptServed } from '@tmb/core';
import { logOrigin } from '@tmb/core/log';
import type { AgentLog } from './agent.ts';
import { Attester } from './attest/attester.ts';
import { AttestClient } from './attest/client.ts';
import { chooseKernel, chooseTpm } from './attest/hardware.ts';
import { type AttestHost, openHost } from './attest/host.ts';
import { KernelEvidence } from './attest/kernel.ts';
import type { HealthSources } from './health.ts';
import type { AgentParts } from './lifecycle.ts';
import { LogFeeder } from './log/feeder.ts';
import { checkpointSigner } from './log/note.ts';
import { ReceiptLog } from './log/tree.ts';
import type { AgentMetrics } from './metrics.ts';
import type { ResolvedAgentOptions } from './options.ts';
import { nowUs } from './proxy/clock.ts';
import { handleExchange, type ProxyContext } from './proxy/exchange.ts';
import { openUpstreamPool } from './proxy/pool.ts';
import type { AgentKey } from './receipt/key.ts';
import { Pusher } from './receipt/push.ts';
import { ReceiptSigner } from './receipt/sign.ts';
import { ReceiptStore } from './receipt/store.ts';
import { handleLogRoute } from './routes/log.ts';
import { handleWellKnown, WELL_KNOWN } from './routes/wellknown.ts';
import { type TelemetryStream, telemetryExtension } from './telemetry/stream.ts';
import { UpstreamWatch } from './upstream/index.ts';

// The parts of a running agent, each made from the resolved options by one step of startAgent
// (agent.ts), which records them in AgentParts as it goes so a failed start closes what it opened.

/**
 * The TPM and the kernel's IMA log, chosen from the options, and the attested host opened on the
 * TPM (keys, AK, key binding); undefined without a TPM (L0 only).
 * @throws TpmDriverError TPM_UNAVAILABLE; AgentError AGENT_CONFIG_INVALID (attest/hardware.ts)
 */
export async function openAttestation(
  opts: ResolvedAgentOptions,
  key: AgentKey,
  parts: AgentParts,
  log: AgentLog,
): Promise<AttestHost | undefined> {
  const tcti = chooseTpm(opts, log);
  // Before openHost extends the application PCR: a kernel log rules out PCRs 8-10.
  parts.kernelLog = tcti === undefined ? undefined : chooseKernel(opts, log);
  if (tcti === undefined) return undefined;
  // Progress of the steps that take seconds (docs/cli.md, "Progress").
  log('start_step', { step: 'tpm', message: 'opening the TPM: keys, AK, key binding...' });
  parts.host = await openHost({
    tcti,
    dataDir: opts.dataDir,
    pcr: opts.appPcr,
    publicKey: key.publicKey,
    transport: opts.tpmTransport,
  });
  log('tpm_transport', { transport: parts.host.driver.transport, asked: opts.tpmTransport });
  return parts.host;
}

/** The receipt store, the receipt log fed from it, and this start's signer, which stores into both. */
export function openReceipts(
  opts: ResolvedAgentOptions,
  key: AgentKey,
  parts: AgentParts,
  served: ReceiptServed,
  log: AgentLog,
): { store: ReceiptStore; receiptLog: ReceiptLog; feeder: LogFeeder; signer: ReceiptSigner } {
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
  // The log is in the store's database: each batch's leaves go in the transaction of its receipts.
  store.inCommit = (rows) => feeder.inCommit(rows);
  // Receipt v2 `served`: the weights and engine measured at start, the same for every receipt of this key.
  const signer = new ReceiptSigner(opts.name, key, store, nowUs(), served);
  signer.onStored = (row) => feeder.add(row);
  return { store, receiptLog, feeder, signer };
}

/** The pusher of receipts to the verifier, or undefined without one. */
export function startPusher(
  opts: ResolvedAgentOptions,
  store: ReceiptStore,
  metrics: AgentMetrics,
  log: AgentLog,
): Pusher | undefined {
  if (!opts.verifier) return undefined;
  return new Pusher(
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
  );
}

/**
 * What every exchange shares (proxy/exchange.ts): the upstream connection pool, and the signer
 * wrapped so close() waits for the receipt of an exchange whose client already left.
 */
export function proxyContext(
  opts: ResolvedAgentOptions,
  signer: ReceiptSigner,
  parts: AgentParts,
  metrics: AgentMetrics,
  onReceipt: ProxyContext['onReceipt'],
  log: AgentLog,
): ProxyContext {
  const upstream = new URL(opts.upstream);
  parts.upstream = openUpstreamPool(upstream, {
    timeoutMs: opts.upstreamTimeoutMs,
    connections: opts.upstreamConnections,
  });
  return {
    opts,
    signer: {
      issue: (fields) => {
        const p = signer.issue(fields);
        parts.receipts.add(p);
        const done = () => parts.receipts.delete(p);
        p.then(done, done);
        return p;
      },
    },
    upstream: parts.upstream,
    upstreamPath: upstream.pathname.replace(/\/$/, ''),
    onReceipt: (outcome) => {
      metrics.receipt(outcome);
      onReceipt(outcome);
    },
    receiptUrl: (id) =>
      opts.verifier ? `${opts.verifier.url.replace(/\/$/, '')}/v1/receipts/${id}` : undefined,
    log: (event, detail) => {
      if (event === 'receipt_failed') metrics.receiptFailed(String(detail.code));
      log(event, detail);
    },
  };
}

/** The attester: checkpoints of the receipt log and, with a TPM, quotes over them sent as evidence. */
export function startAttester(o: {
  opts: ResolvedAgentOptions;
  key: AgentKey;
  parts: AgentParts;
  receiptLog: ReceiptLog;
  feeder: LogFeeder;
  host: AttestHost | undefined;
  pusher: Pusher | undefined;
  telemetry: TelemetryStream | undefined;
  log: AgentLog;
}): Attester {
  const { opts, host, pusher, telemetry, log } = o;
  const origin = logOrigin(opts.name);
  return new Attester({
    log: o.receiptLog,
    feeder: o.feeder,
    origin,
    signer: checkpointSigner(origin, o.key),
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
    ...(o.parts.kernelLog !== undefined ? { kernel: new KernelEvidence(o.parts.kernelLog, log) } : {}),
    telemetryTool: telemetry?.tool() ?? null,
    pollMs: opts.hostPollMs,
    // Which local process serves --upstream, re-checked each quote (docs/upstream.md).
    ...(host !== undefined ? { upstream: new UpstreamWatch(opts.upstream) } : {}),
  });
}

/** Points the metrics and /healthz at the store, the receipt log and the telemetry stream. */
export function attachSources(
  metrics: AgentMetrics,
  healthSources: HealthSources,
  store: ReceiptStore,
  receiptLog: ReceiptLog,
  telemetry: TelemetryStream | undefined,
): void {
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
}

/**
 * What the main listener serves once started: the agent's own endpoints under WELL_KNOWN (the
 * receipt log's proofs, the agent and its receipts), and every other request as a proxied
 * exchange, timed for the metrics and tracked in `parts.exchanges` until it has ended.
 */
export function agentHandler(o: {
  ctx: ProxyContext;
  store: ReceiptStore;
  receiptLog: ReceiptLog;
  self: { name: string; keyId: string; publicKey: Uint8Array };
  metrics: AgentMetrics;
  parts: AgentParts;
  log: AgentLog;
}): (req: IncomingMessage, res: ServerResponse) => void {
  const { ctx, metrics, parts, log } = o;
  return (req, res) => {
    if (req.url?.startsWith(WELL_KNOWN)) {
      if (handleLogRoute(req, res, o.receiptLog)) return;
      handleWellKnown(req, res, o.store, o.self);
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
