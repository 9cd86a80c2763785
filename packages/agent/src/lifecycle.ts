import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Attester } from './attest/attester.ts';
import type { AttestHost } from './attest/host.ts';
import { AgentError } from './errors.ts';
import type { LogFeeder } from './log/feeder.ts';
import type { KernelLog } from './measure/kernel/reader.ts';
import type { HostMeasurement } from './measure/start.ts';
import type { UpstreamPool } from './proxy/pool.ts';
import type { Pusher } from './receipt/push.ts';
import type { ReceiptStore } from './receipt/store.ts';
import type { TelemetryStream } from './telemetry/stream.ts';

/** Exchanges in flight get this long to finish (their receipts are written) at close, then are cut. */
const CLOSE_GRACE_MS = 5_000;

/**
 * What a starting agent has started so far. startAgent fills it in as it goes, so that a start
 * that fails half-way closes exactly what it opened (issue 10: a failed listen left the
 * process hanging), and close() shuts a running agent down through the same path.
 */
export interface AgentParts {
  server?: Server;
  metricsServer?: Server;
  /** Proxied exchanges not yet closed; each settles just after its response's 'close'. */
  exchanges: Set<Promise<void>>;
  /** Receipts being signed and committed (an exchange whose client left may still be writing one). */
  receipts: Set<Promise<unknown>>;
  upstream?: UpstreamPool;
  telemetry?: TelemetryStream;
  feeder?: LogFeeder;
  hostMeasure?: HostMeasurement;
  attester?: Attester;
  kernelLog?: KernelLog;
  host?: AttestHost;
  pusher?: Pusher;
  store?: ReceiptStore;
}

/**
 * Listens on host:port and resolves with the bound address.
 * @throws AgentError AGENT_LISTEN_FAILED (busy port, address not on this host, no permission)
 */
export async function listen(
  server: Server,
  port: number,
  host: string,
  what = 'the agent',
): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the address is in use by another program'
          : err.code === 'EADDRNOTAVAIL'
            ? 'the address is not one of this host'
            : err.code === 'EACCES'
              ? 'no permission to listen there'
              : err.message;
      reject(
        new AgentError(
          'AGENT_LISTEN_FAILED',
          `${what} cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${why} (${err.code ?? 'error'})`,
          { cause: err },
        ),
      );
    };
    server.once('error', failed);
    try {
      server.listen(port, host, () => {
        server.off('error', failed);
        resolve();
      });
    } catch (err) {
      failed(err as NodeJS.ErrnoException);
    }
  });
  return server.address() as AddressInfo;
}

/** The URL of a bound address. */
export function urlOf({ address, port }: AddressInfo): string {
  return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** Stops accepting, lets exchanges in flight finish (up to the grace period), then cuts the rest. */
function drain(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
  });
}

/**
 * Shuts down what `parts` holds, in dependency order: listeners (in-flight exchanges finish),
 * the receipts they are writing, the upstream pool, telemetry (its last push), the log feeder,
 * host measurement, the attester (its cycle in flight), the kernel reader, the measurement log
 * then the TPM driver, the pusher (its last push), and the store with its WAL worker last: when
 * this resolves nothing the agent started writes into its data dir or runs any more. A part
 * that fails to close is logged and the rest still close.
 */
export async function shutdown(
  p: AgentParts,
  log: (event: string, detail: Record<string, unknown>) => void,
): Promise<void> {
  const step = async (part: string, fn: () => unknown) => {
    try {
      await fn();
    } catch (err) {
      log('close_failed', { part, error: String(err) });
    }
  };
  await Promise.all([
    step('server', () => p.server && drain(p.server)),
    step('metrics', () => p.metricsServer && drain(p.metricsServer)),
  ]);
  // A response's 'close' and the server's may come in either order: wait for every exchange's
  // own, after which the receipt it writes (client_aborted, upstream_error) is in `receipts`.
  await Promise.all([...p.exchanges]);
  await Promise.allSettled([...p.receipts]);
  await step('upstream', () => p.upstream?.close());
  await step('telemetry', () => p.telemetry?.close());
  await step('feeder', () => p.feeder?.flush());
  await step('measure', () => p.hostMeasure?.stop());
  await step('attester', () => p.attester?.close());
  await step('kernel', () => p.kernelLog?.close());
  // The measurement log's last append may still extend the PCR: before the driver closes.
  await step('measurement-log', () => p.host?.measure.close());
  await step('tpm', () => p.host?.driver.close());
  if (p.pusher !== undefined) {
    const pusher = p.pusher;
    await pusher.flush().catch(() => {});
    pusher.close();
  }
  await step('store', () => p.store?.close());
}
