import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type AgentOptions, startAgent } from '@tmb/agent';
import { ReceiptLog } from '@tmb/agent/log';
import { fakeUpstream } from './fixtures/model.ts';
import { until } from './fixtures/prom.ts';

// Issue 10, "No stuck states": options are checked before anything starts, the port is bound
// before the TPM or the data dir is touched, a failed start closes what it opened, and close()
// resolves only once nothing the agent started still runs or writes into its data dir.

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-agent-life-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A TPM path where nothing listens: a start that reached the TPM would fail TPM_UNAVAILABLE. */
const noTpm = () => ({ kind: 'unix' as const, path: join(dir, 'no-tpm.sock') });

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('options out of range are refused (AGENT_CONFIG_INVALID, naming the option) before the data dir or the TPM is touched', async () => {
  const cases: [Partial<AgentOptions>, RegExp][] = [
    [{ port: 70_000 }, /^port must be an integer 0\.\.65535 \(0: any free port\), found 70000/],
    [{ port: -1 }, /^port must be an integer 0\.\.65535/],
    [{ port: 1.5 }, /^port must be/],
    [{ host: '' }, /^host must be an address/],
    [{ pushIntervalMs: 0 }, /^pushIntervalMs must be a positive integer, found 0/],
    [{ checkpointIntervalMs: -5 }, /^checkpointIntervalMs must be a positive integer/],
    [{ upstreamTimeoutMs: Number.NaN }, /^upstreamTimeoutMs must be a positive integer/],
    [{ durability: 'sometimes' as 'full' }, /^durability must be normal or full/],
    [{ verifier: { url: 'ftp://v', token: 't' } }, /^verifier\.url must be an http or https URL/],
    [{ verifier: { url: 'http://v', token: '' } }, /^verifier\.token must not be empty/],
    [{ telemetry: { intervalMs: 0 } }, /^telemetry\.intervalMs must be a positive integer/],
    [{ telemetry: { maxPendingBatches: 0.5 } }, /^telemetry\.maxPendingBatches must be a positive integer/],
    [{ measure: { weights: [], watchMs: 0 } }, /^measure\.watchMs must be a positive integer/],
    [
      { metricsListen: { host: '127.0.0.1', port: 65_536 } },
      /^metricsListen\.port must be an integer 0\.\.65535/,
    ],
  ];
  for (const [extra, message] of cases) {
    const dataDir = join(dir, 'range');
    await assert.rejects(
      startAgent(
        { upstream: 'http://127.0.0.1:9', dataDir, name: 'range', tpm: noTpm(), ...extra },
        () => {},
      ),
      (err: { code?: string; message?: string }) => {
        assert.equal(err.code, 'AGENT_CONFIG_INVALID', `${JSON.stringify(extra)}: ${err.message}`);
        assert.match(err.message ?? '', message);
        return true;
      },
    );
    assert.ok(!existsSync(dataDir), `${JSON.stringify(extra)} made the data dir`);
  }
});

test('a busy port: AGENT_LISTEN_FAILED naming the address, before the TPM or the data dir; a busy metrics port frees the main one', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const taken = (busy.address() as { port: number }).port;
  try {
    const dataDir = join(dir, 'busy');
    await assert.rejects(
      startAgent(
        { upstream: 'http://127.0.0.1:9', dataDir, name: 'busy', port: taken, tpm: noTpm() },
        () => {},
      ),
      {
        code: 'AGENT_LISTEN_FAILED',
        message: `the agent cannot listen on 127.0.0.1:${taken}: the address is in use by another program (EADDRINUSE)`,
      },
    );
    assert.ok(!existsSync(dataDir));
    const port = await freePort();
    await assert.rejects(
      startAgent(
        {
          upstream: 'http://127.0.0.1:9',
          dataDir,
          name: 'busy',
          port,
          tpm: noTpm(),
          metricsListen: { host: '127.0.0.1', port: taken },
        },
        () => {},
      ),
      { code: 'AGENT_LISTEN_FAILED', message: /^the metrics listener cannot listen on 127\.0\.0\.1:\d+/ },
    );
    // The main port it had bound is free again.
    const again = createServer();
    await new Promise<void>((r, j) => {
      again.once('error', j);
      again.listen(port, '127.0.0.1', r);
    });
    await new Promise<void>((r) => again.close(() => r()));
  } finally {
    await new Promise<void>((r) => busy.close(() => r()));
  }
});

test('close() resolves once nothing the agent started runs: no handle left, and its data dir removes cleanly (the ENOTEMPTY of issue 10)', async () => {
  const baseline = process.getActiveResourcesInfo();
  const up = await fakeUpstream((_q, _b, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"choices":[{"delta":{"content":"a"}}]}\n\n');
    // Never ends: the client below leaves mid-stream, the agent writes a client_aborted receipt.
  });
  const fake = new URL('telemetry/fake-nvidia-smi.ts', import.meta.url).pathname;
  const dataDir = join(dir, 'close');
  const agent = await startAgent(
    {
      upstream: up.url,
      dataDir,
      name: 'closer',
      pushIntervalMs: 5,
      verifier: { url: `http://127.0.0.1:${await freePort()}`, token: 'tok' },
      verifierTimeoutMs: 300,
      checkpointIntervalMs: 20,
      checkpointMinIntervalMs: 10,
      telemetry: {
        intervalMs: 10,
        pushIntervalMs: 20,
        timeoutMs: 300,
        spawn: (_c, args) =>
          spawn(process.execPath, [fake, ...args], { stdio: ['ignore', 'pipe', 'ignore'] }),
      },
    },
    () => {},
  );
  // Streams in flight while it closes: each client leaves once its first bytes arrive.
  const url = new URL(agent.url);
  const leaving = Array.from(
    { length: 5 },
    () =>
      new Promise<void>((resolve) => {
        const req = request({
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/v1/chat/completions',
        });
        req.on('response', (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => resolve());
        req.end('{"model":"m","stream":true}');
      }),
  );
  await Promise.all(leaving);
  await agent.close();
  await up.close();
  // Every receipt of an exchange whose client left is committed before close() resolves.
  await until(() => up.seen.length === 5, 5_000, 'the upstream saw the five streams');
  // Nothing more is active than before the agent started (a timer, socket, child, worker or file request).
  const extra = [...process.getActiveResourcesInfo()];
  for (const r of baseline) extra.splice(extra.indexOf(r) >>> 0, extra.includes(r) ? 1 : 0);
  assert.deepEqual(extra, [], 'resources still active after close()');
  const files = await readdir(dataDir);
  assert.ok(files.includes('receipts.db'));
  // The five client_aborted receipts were committed and are leaves of the log.
  const log = ReceiptLog.open(join(dataDir, 'receipts.db'));
  try {
    assert.equal(log.size, 5);
  } finally {
    log.close();
  }
  await rm(dataDir, { recursive: true });
  assert.ok(!existsSync(dataDir));
});
