import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { dispatcher, type Route } from '../src/http/dispatch.ts';
import { createLogger } from '../src/log.ts';
import { VerifierMetrics } from '../src/metrics.ts';
import type { VerifierParts } from '../src/routes/context.ts';

// The request context's `signal` is made on first use (http/dispatch.ts): these tests hold it to
// what it promised before, aborting when the client goes away or the service stops.

const shutdown = new AbortController();
/** Resolves with whether the waiting handler's signal aborted, once it settles. */
let waited: Promise<boolean> = Promise.resolve(false);
let entered: () => void = () => {};
let server: Server;
let base: string;

const routes: Route[] = [
  {
    method: 'GET',
    pattern: /^\/wait$/,
    access: 'token',
    handle: async (ctx) => {
      waited = new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), 30_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      entered();
      if (await waited) return;
      ctx.res.end('late');
    },
  },
  {
    method: 'GET',
    pattern: /^\/now$/,
    access: 'token',
    handle: async (ctx) => {
      ctx.res.end(ctx.signal.aborted ? 'aborted' : 'open');
    },
  },
];

before(async () => {
  const parts = {
    log: createLogger({ level: 'error', sink: { write: () => true } }),
    metrics: new VerifierMetrics(async () => new Map(), Date.now),
    options: { metricsPublic: false },
  } as unknown as VerifierParts;
  server = createServer(dispatcher(routes, parts, { limiter: null, shutdown: shutdown.signal }));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  shutdown.abort();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** Sends GET `path` and resolves once the handler has started waiting; returns the request. */
function startWaiting(): Promise<ReturnType<typeof request>> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/wait`);
    entered = () => resolve(req);
    req.on('error', () => {}); // destroyed by the test
    req.on('response', () => reject(new Error('the waiting handler answered')));
    req.end();
  });
}

test('a handler waiting on ctx.signal is woken when its client disconnects', async () => {
  const req = await startWaiting();
  req.destroy();
  assert.equal(await waited, true);
});

test('ctx.signal of a request still open is not aborted', async () => {
  const r = await fetch(`${base}/now`);
  assert.equal(await r.text(), 'open');
});

test('a handler waiting on ctx.signal is woken when the service stops', async () => {
  await startWaiting();
  shutdown.abort();
  assert.equal(await waited, true);
  // A request after the stop sees its signal aborted at once.
  assert.equal(await (await fetch(`${base}/now`)).text(), 'aborted');
});
