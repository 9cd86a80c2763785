import { createServer, Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generateAgentKey } from './keys.ts';
import { type AgentOptions, resolveOptions } from './options.ts';
import { nowUs } from './proxy/clock.ts';
import { handleExchange, type ProxyContext } from './proxy/exchange.ts';
import { handleWellKnown, WELL_KNOWN } from './proxy/wellknown.ts';
import { Pusher } from './push/pusher.ts';
import { ReceiptSigner } from './signer.ts';
import { ReceiptStore } from './store/store.ts';

const CLOSE_GRACE_MS = 5_000;

/** A running agent. */
export interface RunningAgent {
  /** Base URL the router sends traffic to. */
  url: string;
  name: string;
  keyId: string;
  publicKey: Uint8Array;
  store: ReceiptStore;
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
  const store = new ReceiptStore(opts.dataDir, opts.durability);
  const key = generateAgentKey(opts.name);
  const signer = new ReceiptSigner(opts.name, key, store, nowUs());
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
  const upstream = new URL(opts.upstream);
  const agentOpts = { keepAlive: true, maxFreeSockets: 256, scheduling: 'lifo' as const };
  const ctx: ProxyContext = {
    opts,
    signer,
    upstream,
    upstreamAgent: upstream.protocol === 'https:' ? new HttpsAgent(agentOpts) : new HttpAgent(agentOpts),
    onReceipt: () => pusher?.wake(),
    receiptUrl: (id) =>
      opts.verifier ? `${opts.verifier.url.replace(/\/$/, '')}/v1/receipts/${id}` : undefined,
    log,
  };
  const self = { name: opts.name, keyId: key.keyId, publicKey: key.publicKey };
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 60_000 }, (req, res) => {
    if (req.url?.startsWith(WELL_KNOWN)) {
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
  const host = address.includes(':') ? `[${address}]` : address;
  pusher?.wake();
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    name: opts.name,
    keyId: key.keyId,
    publicKey: key.publicKey,
    store,
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
        if (pusher) {
          await pusher.flush().catch(() => {});
          pusher.close();
        }
        store.close();
      })();
      return closing;
    },
  };
}
