import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Health } from '../health.ts';

/**
 * The operator's endpoints, answered by the agent itself and never forwarded to the model
 * server. OpenAI's API lives under /v1, so neither collides with it; a model server's own
 * /metrics (vLLM, TGI, llama.cpp) is scraped on its own port, not through the agent.
 */
export const OPS_PATHS = { health: '/healthz', metrics: '/metrics' } as const;

/** What the operator's endpoints answer with. */
export interface Ops {
  health(): Promise<{ code: number; body: Health }>;
  metrics(): Promise<{ body: string; contentType: string }>;
}

/** Whether a socket's remote address is this host's loopback (IPv4, IPv6 or IPv4-mapped). */
export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

function send(res: ServerResponse, code: number, type: string, body: string, head: boolean): void {
  res.writeHead(code, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(head ? undefined : body);
}

function error(res: ServerResponse, code: number, err: string, message: string): void {
  send(res, code, 'application/json', JSON.stringify({ error: { code: err, message } }), false);
}

/**
 * Answers GET /healthz and GET /metrics and returns true, or returns false for any other path
 * (the caller proxies it). `/metrics` answers only loopback clients unless `metricsOpen`
 * (the separate --metrics-listen listener, which serves nothing else).
 */
export function handleOpsRoute(
  req: IncomingMessage,
  res: ServerResponse,
  ops: Ops,
  metricsOpen = false,
): boolean {
  // Every proxied request passes here first: a slice, not a split (an array per request).
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path !== OPS_PATHS.health && path !== OPS_PATHS.metrics) return false;
  req.resume();
  const head = req.method === 'HEAD';
  if (req.method !== 'GET' && !head) {
    error(res, 405, 'METHOD_NOT_ALLOWED', 'only GET and HEAD');
    return true;
  }
  if (path === OPS_PATHS.health) {
    ops.health().then(
      ({ code, body }) => send(res, code, 'application/json', JSON.stringify(body), head),
      () => error(res, 503, 'HEALTH_UNAVAILABLE', 'health could not be read'),
    );
    return true;
  }
  if (!metricsOpen && !isLoopback(req.socket.remoteAddress)) {
    error(res, 403, 'METRICS_LOOPBACK_ONLY', 'metrics answer this host only; use the metrics listener');
    return true;
  }
  ops.metrics().then(
    ({ body, contentType }) => send(res, 200, contentType, body, head),
    () => error(res, 500, 'METRICS_UNAVAILABLE', 'metrics could not be collected'),
  );
  return true;
}
