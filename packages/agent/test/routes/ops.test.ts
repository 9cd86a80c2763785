import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startAgent } from '@tmb/agent';
import { closers } from '../../../../test/fixtures/cleanup.ts';
import { handleOpsRoute, isLoopback } from '../../src/routes/ops.ts';
import { agentFor, fakeUpstream } from '../fixtures/model.ts';
import { scrape, until } from '../fixtures/prom.ts';

// Issue 10, "Operable": the agent's own /healthz and /metrics. Neither is ever forwarded to the
// model server; /metrics answers loopback clients on the main port, anyone on metricsListen.

// What the tests start stops at the file's end, last started first; folders go after (test/fixtures/cleanup.ts).
const cleanup = closers(after);

const CHAT =
  '{"id":"c1","model":"m","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}';

async function upstreamOk() {
  const up = await fakeUpstream((_q, _b, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(CHAT);
  });
  cleanup.add(up.close);
  return up;
}

/** A stub of the verifier's push API (docs/api.md) that accepts every receipt. */
async function acceptingVerifier() {
  const v = await fakeUpstream((req, body, res) => {
    const n = req.url === '/v1/receipts' ? JSON.parse(body.toString()).receipts.length : 0;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ accepted: n, duplicate: 0, rejected: [] }));
  });
  cleanup.add(v.close);
  return v;
}

async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const chat = (url: string) =>
  fetch(`${url}/v1/chat/completions`, { method: 'POST', body: '{"model":"m"}' }).then((r) => r.text());

async function healthz(url: string) {
  const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  return { status: res.status, body: await res.json() };
}

test('/healthz and /metrics are answered by the agent, never forwarded; they count receipts, pushes and exchanges', async () => {
  const up = await upstreamOk();
  const v = await acceptingVerifier();
  const agent = await agentFor(up.url, { verifier: { url: v.url, token: 'ops-token' } });
  cleanup.add(agent.close);
  await chat(agent.url);
  await chat(agent.url);
  await agent.flush();
  const h = await healthz(agent.url);
  assert.equal(h.status, 200, JSON.stringify(h.body));
  assert.equal(h.body.status, 'ok');
  assert.equal(h.body.agent, 'test-agent');
  assert.equal(h.body.keyId, agent.keyId);
  assert.equal(h.body.tpm, false);
  assert.equal(h.body.seq, 2, 'the next receipt takes seq 2');
  assert.equal(h.body.pendingReceipts, 0);
  assert.equal(h.body.upstreamReachable, true);
  assert.ok(Date.parse(h.body.lastPush) > 0, 'the last push is named');
  assert.ok(Date.parse(h.body.lastReceipt) > 0);
  const m = await scrape(`${agent.url}/metrics`);
  assert.equal(m.get('tmb_agent_receipts_issued_total{outcome="complete"}'), 2);
  assert.equal(m.get('tmb_agent_receipts_pushed_total'), 2);
  assert.equal(m.get('tmb_agent_receipts_pending_push'), 0);
  assert.equal(m.get('tmb_agent_push_lag_seconds'), 0);
  assert.equal(m.get('tmb_agent_request_duration_seconds_count{status="2xx"}'), 2);
  assert.equal(m.get('tmb_agent_request_duration_seconds_bucket{le="+Inf",status="2xx"}'), 2);
  assert.equal(m.get('tmb_agent_quote_duration_seconds_count'), 0, 'no TPM, no quote');
  assert.equal(m.get('tmb_agent_store_readable'), 1);
  assert.ok((m.get('tmb_agent_resident_memory_bytes') ?? 0) > 0);
  // HEAD answers too; other methods do not, and neither path ever reaches the model server.
  assert.equal((await fetch(`${agent.url}/healthz`, { method: 'HEAD' })).status, 200);
  assert.equal((await fetch(`${agent.url}/metrics`, { method: 'POST', body: 'x' })).status, 405);
  assert.deepEqual(
    up.seen.map((s) => s.url),
    ['/v1/chat/completions', '/v1/chat/completions'],
  );
  assert.equal(
    up.seen.filter((s) => s.url !== '/v1/chat/completions').length,
    0,
    'no health or metrics request forwarded',
  );
});

test('an unreachable verifier: push failures counted by code, receipts pending, push lag above 0; health stays 200', async () => {
  const up = await upstreamOk();
  const agent = await agentFor(up.url, {
    verifier: { url: `http://127.0.0.1:${await deadPort()}`, token: 'ops-token' },
    verifierTimeoutMs: 500,
  });
  cleanup.add(agent.close);
  await chat(agent.url);
  let m = new Map<string, number>();
  await until(
    async () => {
      m = await scrape(`${agent.url}/metrics`);
      return (m.get('tmb_agent_push_failures_total{code="AGENT_PUSH_FAILED"}') ?? 0) >= 1;
    },
    10_000,
    'a counted push failure',
  );
  assert.equal(m.get('tmb_agent_receipts_pending_push'), 1);
  assert.ok((m.get('tmb_agent_push_lag_seconds') ?? 0) > 0, 'the waiting receipt ages');
  const h = await healthz(agent.url);
  assert.equal(h.status, 200);
  assert.equal(h.body.pendingReceipts, 1);
  assert.equal(h.body.lastPush, null);
});

test('the model server down: /healthz 200 degraded, upstreamReachable false; upstream errors counted by outcome', async () => {
  const up = await upstreamOk();
  const agent = await agentFor(up.url);
  cleanup.add(agent.close);
  assert.equal((await healthz(agent.url)).body.upstreamReachable, true);
  await up.close();
  // The probe's answer is kept for a second: wait for the next one.
  let h = await healthz(agent.url);
  await until(
    async () => {
      h = await healthz(agent.url);
      return h.body.upstreamReachable === false;
    },
    5_000,
    'the upstream seen as unreachable',
  );
  assert.equal(h.status, 200, 'receipts can still be issued');
  assert.equal(h.body.status, 'degraded');
  assert.match(h.body.problem, /model server/);
  await chat(agent.url);
  const m = await scrape(`${agent.url}/metrics`);
  assert.equal(m.get('tmb_agent_upstream_errors_total{outcome="upstream_error"}'), 1);
  assert.equal(m.get('tmb_agent_receipts_issued_total{outcome="upstream_error"}'), 1);
  assert.equal(m.get('tmb_agent_request_duration_seconds_count{status="5xx"}'), 1);
});

test('a receipt store that cannot be read: /healthz 503 failing; an exchange is cut and counted as a failed receipt', async () => {
  const up = await upstreamOk();
  const agent = await agentFor(up.url);
  cleanup.add(agent.close);
  await agent.store.close();
  const h = await healthz(agent.url);
  assert.equal(h.status, 503);
  assert.equal(h.body.status, 'failing');
  assert.match(h.body.problem, /receipt store/);
  await assert.rejects(chat(agent.url), 'no answer without its receipt');
  const m = await scrape(`${agent.url}/metrics`);
  assert.equal(m.get('tmb_agent_receipts_failed_total{code="AGENT_STORE_FAILED"}'), 1);
  assert.equal(m.get('tmb_agent_store_readable'), 0);
  assert.equal(m.get('tmb_agent_request_duration_seconds_count{status="cut"}'), 1);
});

test('/metrics answers only loopback clients on the main port; the metrics listener answers anyone and serves nothing else', async () => {
  assert.ok(isLoopback('127.0.0.1') && isLoopback('127.8.9.1') && isLoopback('::1'));
  assert.ok(isLoopback('::ffff:127.0.0.1'));
  assert.ok(!isLoopback('10.0.0.1') && !isLoopback('::ffff:10.0.0.1') && !isLoopback('fe80::1'));
  assert.ok(!isLoopback(undefined));
  // A client from another address, as the main listener's router would see it.
  const answer = { code: 0, body: '' };
  const req = { url: '/metrics', method: 'GET', socket: { remoteAddress: '10.1.2.3' }, resume() {} };
  const res = {
    writeHead(code: number) {
      answer.code = code;
    },
    end(b: string) {
      answer.body = b;
    },
  };
  const ops = {
    health: () => Promise.reject(new Error('unused')),
    metrics: () => Promise.resolve({ body: 'x 1\n', contentType: 'text/plain' }),
  };
  const handled = handleOpsRoute(req as unknown as IncomingMessage, res as unknown as ServerResponse, ops);
  assert.equal(handled, true);
  assert.equal(answer.code, 403);
  assert.match(answer.body, /METRICS_LOOPBACK_ONLY/);
  req.url = '/v1/models';
  assert.equal(
    handleOpsRoute(req as unknown as IncomingMessage, res as unknown as ServerResponse, ops),
    false,
  );

  const up = await upstreamOk();
  const agent = await agentFor(up.url, { metricsListen: { host: '127.0.0.1', port: 0 } });
  cleanup.add(agent.close);
  assert.ok(agent.metricsUrl !== undefined && agent.metricsUrl !== agent.url);
  const m = await scrape(`${agent.metricsUrl}/metrics`);
  assert.equal(m.get('tmb_agent_receipts_pending_push'), 0);
  assert.equal((await fetch(`${agent.metricsUrl}/v1/models`)).status, 404);
  assert.equal(up.seen.length, 0);
});

test('telemetry samples read are counted', async () => {
  const fake = new URL('../telemetry/fake-nvidia-smi.ts', import.meta.url).pathname;
  const up = await upstreamOk();
  const agent = await agentFor(up.url, {
    telemetry: {
      intervalMs: 20,
      spawn: (_command, args) =>
        spawn(process.execPath, [fake, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }),
    },
  });
  cleanup.add(agent.close);
  await until(
    async () => ((await scrape(`${agent.url}/metrics`)).get('tmb_agent_telemetry_samples_total') ?? 0) >= 2,
    // A bound, not a timing: the fake nvidia-smi is a Node process, slow to start on a loaded machine.
    60_000,
    'samples counted',
  );
  const m = await scrape(`${agent.url}/metrics`);
  assert.equal(m.get('tmb_agent_telemetry_batches_dropped_total'), 0);
});

test('while it starts, /healthz is 503 starting and exchanges get 503 unforwarded; a start that fails frees its port and writes nothing', async () => {
  const dir = await cleanup.dir('tmb-ops-start-');
  // A "TPM" that accepts connections and never answers: the start waits on it.
  const sockets: Socket[] = [];
  const hold = (path: string) => {
    const s: Server = createServer((c) => sockets.push(c));
    return new Promise<Server>((r) => s.listen(path, () => r(s)));
  };
  const tpmPath = join(dir, 'tpm.sock');
  const servers = [await hold(tpmPath), await hold(`${tpmPath}.ctrl`)];
  const up = await upstreamOk();
  const port = await deadPort();
  const dataDir = join(dir, 'data');
  const started = startAgent(
    { upstream: up.url, dataDir, name: 'starting', port, tpm: { kind: 'unix', path: tpmPath } },
    () => {},
  );
  const failed = started.then(
    () => assert.fail('the start should fail'),
    (err: { code?: string }) => err,
  );
  const url = `http://127.0.0.1:${port}`;
  await until(() => sockets.length > 0, 10_000, 'the TPM asked');
  const h = await healthz(url);
  assert.equal(h.status, 503);
  assert.equal(h.body.status, 'starting');
  assert.equal(h.body.agent, 'starting');
  const early = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: '{}' });
  assert.equal(early.status, 503);
  assert.equal((await early.json()).error.code, 'AGENT_STARTING');
  assert.equal(up.seen.length, 0, 'nothing forwarded before the agent is ready');
  // The TPM goes away: the start fails, and closes what it opened.
  for (const c of sockets) c.destroy();
  for (const s of servers) s.close();
  assert.equal((await failed).code, 'TPM_UNAVAILABLE');
  await assert.rejects(fetch(`${url}/healthz`), 'the listener is closed');
  assert.ok(!existsSync(join(dataDir, 'receipts.db')), 'no store was opened');
  const again = createServer();
  await new Promise<void>((r, j) => {
    again.once('error', j);
    again.listen(port, '127.0.0.1', r);
  });
  await new Promise<void>((r) => again.close(() => r()));
});
