import { Client, type Dispatcher, Pool } from 'undici';

/** How long an idle kept-alive connection to the model server is kept for reuse. */
const UPSTREAM_IDLE_MS = 4_000;
/** Time allowed to open a connection to the model server (it is local or on the provider's network). */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A request in flight on the pool: `reused` is set when it is handed to a connection, true when
 * that connection already carried a request (so a reset before any answer may be a stale socket).
 */
export interface PooledCall extends Dispatcher.DispatchHandler {
  reused: boolean;
}

/**
 * A connection (undici Client) that counts the requests it was given since it last connected, so
 * each request learns whether it went out on a reused connection. undici's Pool hands a request
 * to one free connection and passes the handler through unchanged.
 */
class CountingClient extends Client {
  #sent = 0;

  constructor(origin: URL, opts: Client.Options) {
    super(origin, opts);
    this.on('disconnect', () => {
      this.#sent = 0;
    });
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if ('reused' in handler) (handler as PooledCall).reused = this.#sent > 0;
    this.#sent++;
    return super.dispatch(opts, handler);
  }
}

/** The agent's connections to the model server. */
export interface UpstreamPool {
  /** Keep-alive connections, at most `connections` of them. */
  readonly pool: Dispatcher;
  /** A connection outside the pool, for the one retry of a request a stale socket lost; closed after use. */
  fresh(): Dispatcher;
  close(): Promise<void>;
}

/**
 * Opens the pool of connections to `upstream` (undici: keep-alive, bounded connections, connect,
 * headers and body timeouts). `timeoutMs` bounds the wait for the answer's head and between two
 * body chunks. Response bodies are not size-bounded here: they are relayed as they come, never held.
 * Idle connections are closed after 4 s (less when the server announces `Keep-Alive: timeout=N`:
 * N - 1 s), so the agent never reuses one the server is about to close (issue 10, soak bench).
 */
export function openUpstreamPool(upstream: URL, o: { timeoutMs: number; connections: number }): UpstreamPool {
  const opts: Client.Options = {
    headersTimeout: o.timeoutMs,
    bodyTimeout: o.timeoutMs,
    connectTimeout: Math.min(o.timeoutMs, CONNECT_TIMEOUT_MS),
    keepAliveTimeout: UPSTREAM_IDLE_MS,
    keepAliveMaxTimeout: UPSTREAM_IDLE_MS,
    keepAliveTimeoutThreshold: 1_000,
    pipelining: 1,
  };
  const origin = new URL(upstream.origin);
  const pool = new Pool(origin, {
    ...opts,
    connections: o.connections,
    factory: (url, po) => new CountingClient(url, { ...(po as Client.Options), ...opts }),
  });
  const loose = new Set<Client>();
  return {
    pool,
    fresh: () => {
      const c = new Client(origin, { ...opts, keepAliveTimeout: 1 });
      loose.add(c);
      // Closed once its one request has ended (close waits for it), then forgotten.
      queueMicrotask(() => void c.close().finally(() => loose.delete(c)));
      return c;
    },
    close: async () => {
      await Promise.allSettled([pool.destroy(), ...[...loose].map((c) => c.destroy())]);
    },
  };
}
