import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { ReceiptStore } from '@tmb/agent';
import { ReceiptLog } from '@tmb/agent/log';
import { checkSignedReceipt, toSignedReceipt } from '@tmb/core';
import { LogFeeder } from '../src/log/feeder.ts';
import { fakeUpstream } from './fixtures/model.ts';

const root = new URL('../../../', import.meta.url).pathname;
const node = join(root, 'node_modules/.bin/node');
const cli = join(root, 'packages/cli/src/main.ts');

async function spawnAgent(upstream: string, dataDir: string) {
  const child = spawn(
    node,
    [cli, 'agent', '--upstream', upstream, '--name', 'crashy', '--data-dir', dataDir, '--tpm', 'none'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  return { child, url: (JSON.parse(line) as { listening: string }).listening };
}

/** One exchange; resolves with the receipt id only when the whole body arrived. */
function exchange(url: string, i: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const u = new URL(url);
    const req = request(
      { hostname: u.hostname, port: u.port, method: 'POST', path: '/v1/chat/completions' },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.complete ? (res.headers['tmb-receipt-id'] as string) : undefined));
        res.on('error', () => resolve(undefined));
      },
    );
    req.on('error', () => resolve(undefined));
    req.end(JSON.stringify({ model: 'm', i }));
  });
}

test('kill -9 of the agent loses no receipt of any answer a client received whole', async () => {
  const up = await fakeUpstream((_q, body, res) => {
    // Content-Length bodies, so completeness is judged by length and the agent's hold-back matters.
    const out = JSON.stringify({ model: 'm', echo: body.length });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    res.end(out);
  });
  const dataDir = await mkdtemp(join(tmpdir(), 'tmb-kill-'));
  try {
    const told: string[] = [];
    for (let round = 0; round < 3; round++) {
      const { child, url } = await spawnAgent(up.url, dataDir);
      let stop = false;
      const workers = Array.from({ length: 16 }, async (_, w) => {
        for (let i = 0; !stop; i++) {
          const id = await exchange(url, w * 1_000_000 + i);
          if (id !== undefined) told.push(id);
          else return;
        }
      });
      // Killed mid-traffic once this start has answered some (a bounded wait, not a fixed sleep:
      // on a loaded machine a fixed 150 ms window could see no answer at all), at a varied moment.
      const from = told.length;
      const deadline = Date.now() + 30_000;
      while (told.length < from + 20 + round * 10 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGKILL');
      stop = true;
      await once(child, 'exit');
      await Promise.all(workers);
    }
    assert.ok(told.length > 50, `enough traffic to mean something (${told.length} answers)`);
    const store = new ReceiptStore(dataDir);
    try {
      const keys = new Map<string, Uint8Array>();
      for (const id of told) {
        const row = store.byId(id);
        assert.ok(row, `receipt ${id} survived`);
        keys.set(row.keyId, row.publicKey);
        const check = checkSignedReceipt(toSignedReceipt(row.body, row.sig), (k) => keys.get(k));
        assert.ok(check.checks.every((c) => c.status === 'pass'));
      }
      assert.equal(keys.size, 3, 'one signing key per start');
      // The log stays dense across crashes: seq 0..n-1 with no gap.
      const n = store.nextSeq();
      const count = (store.db.prepare('SELECT COUNT(*) AS n FROM receipts').get() as { n: number }).n;
      assert.equal(count, n);
      // Every stored receipt is in the log, in run 0: a crash never leaves a gap that would end a run.
      // Receipts and their leaves commit in one transaction (ReceiptStore.inCommit), so no receipt
      // is left without its leaf for catchUp to append.
      const log = ReceiptLog.open(store.db);
      assert.equal(log.size, n, 'every stored receipt has its leaf without a catch-up');
      new LogFeeder(log, store, (err) => assert.fail(String(err))).catchUp();
      assert.deepEqual(log.run, { run: 0, base: 0 });
      assert.equal(log.size, n);
    } finally {
      await store.close();
    }
  } finally {
    await up.close();
    await rm(dataDir, { recursive: true, force: true });
  }
});
