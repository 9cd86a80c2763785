// Receipt v2 from the agent: the client's own nonce (issue 9, "two identical requests: the second
// answer relabelled with the first one's receipt passes": a receipt now carries something of the
// client's own) and what served the request, from the host measured at start.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CLIENT_NONCE_HEADER,
  checkSignedReceipt,
  type ReceiptBody,
  receiptClientNonce,
  receiptServed,
  toSignedReceipt,
} from '@tmb/core';
import { tempDir } from '../../../../test/fixtures/cleanup.ts';
import { agentFor, fakeUpstream } from '../fixtures/model.ts';

const sha = (b: string) => createHash('sha256').update(b).digest('hex');

/** A raw HTTP exchange, so the test controls every header byte. */
function raw(
  url: string,
  headers: Record<string, string | string[]>,
  body = '{"model":"m1","messages":[]}',
): Promise<{ status: number; receiptId: string; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        hostname: u.hostname,
        port: u.port,
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json', ...headers },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode!,
            receiptId: res.headers['tmb-receipt-id'] as string,
            body: Buffer.concat(parts).toString(),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

type Agent = Awaited<ReturnType<typeof agentFor>>;

/** The receipt the agent stored for `id`, its signature checked under the agent's key. */
function stored(agent: Agent, id: string): ReceiptBody {
  const row = agent.store.byId(id);
  assert.ok(row, `receipt ${id} is stored`);
  const check = checkSignedReceipt(toSignedReceipt(row.body, row.sig), (k) =>
    k === agent.keyId ? agent.publicKey : undefined,
  );
  assert.deepEqual(
    check.checks.map((c) => c.status),
    ['pass', 'pass'],
  );
  return check.body!;
}

describe('the client nonce in receipt v2', () => {
  let up: Awaited<ReturnType<typeof fakeUpstream>>;
  let agent: Agent;

  before(async () => {
    up = await fakeUpstream((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"model":"m1","choices":[]}');
    });
    agent = await agentFor(up.url);
  });
  after(async () => {
    await agent.close();
    await up.close();
  });

  test('a request with a valid tmb-client-nonce gets a v2 receipt carrying exactly that nonce', async () => {
    const nonce = Buffer.from(Array.from({ length: 32 }, (_, i) => 255 - i)).toString('base64url');
    assert.equal(nonce.length, 43);
    const r = await raw(agent.url, { [CLIENT_NONCE_HEADER]: nonce });
    assert.equal(r.status, 200);
    const body = stored(agent, r.receiptId);
    assert.equal(body.v, 2);
    assert.equal(receiptClientNonce(body), nonce);
    // Forwarded untouched: the model server sees the same header.
    assert.equal(up.seen.at(-1)!.headers[CLIENT_NONCE_HEADER], nonce);
  });

  test('two identical requests with their own nonces get receipts that tell them apart', async () => {
    const [a, b] = ['a', 'b'].map((c) => c.repeat(43));
    const ra = await raw(agent.url, { [CLIENT_NONCE_HEADER]: a! });
    const rb = await raw(agent.url, { [CLIENT_NONCE_HEADER]: b! });
    const [ba, bb] = [stored(agent, ra.receiptId), stored(agent, rb.receiptId)];
    assert.equal(ba.request.sha256, bb.request.sha256, 'the same request bytes');
    assert.equal(receiptClientNonce(ba), a);
    assert.equal(receiptClientNonce(bb), b);
  });

  test('the shortest and longest nonces the pattern allows are kept', async () => {
    for (const nonce of ['-'.repeat(16), `${'Az09'.repeat(31)}_-_-`]) {
      const r = await raw(agent.url, { [CLIENT_NONCE_HEADER]: nonce });
      assert.equal(receiptClientNonce(stored(agent, r.receiptId)), nonce);
    }
  });

  test('no header: the receipt is v2 with a null nonce', async () => {
    const r = await raw(agent.url, {});
    assert.equal(r.status, 200);
    const body = stored(agent, r.receiptId);
    assert.equal(body.v, 2);
    assert.equal(receiptClientNonce(body), null);
  });

  const invalid: [string, string | string[]][] = [
    ['15 characters', 'A'.repeat(15)],
    ['200 characters', 'A'.repeat(200)],
    ['129 characters', 'A'.repeat(129)],
    ['base64 padding', `${'A'.repeat(42)}=`],
    ['standard base64 characters', `${'A'.repeat(40)}+/+`],
    ['a dot', `${'A'.repeat(20)}.${'A'.repeat(20)}`],
    ['inner space', `${'A'.repeat(20)} ${'A'.repeat(20)}`],
    ['the header twice', ['A'.repeat(43), 'B'.repeat(43)]],
  ];
  for (const [what, value] of invalid) {
    test(`an invalid nonce (${what}) is recorded as null and the request is still served`, async () => {
      const r = await raw(agent.url, { [CLIENT_NONCE_HEADER]: value });
      assert.equal(r.status, 200);
      assert.equal(r.body, '{"model":"m1","choices":[]}');
      assert.equal(receiptClientNonce(stored(agent, r.receiptId)), null);
    });
  }

  test('a request the agent refuses (413) still records the nonce it was sent', async () => {
    const small = await agentFor(up.url, { maxBodyBytes: 8 });
    try {
      const nonce = 'z'.repeat(43);
      const r = await raw(small.url, { [CLIENT_NONCE_HEADER]: nonce }, 'x'.repeat(100));
      assert.equal(r.status, 413);
      const body = stored(small, r.receiptId);
      assert.equal(body.outcome, 'rejected_too_large');
      assert.equal(receiptClientNonce(body), nonce);
    } finally {
      await small.close();
    }
  });

  test('an agent that measured nothing names nothing served', async () => {
    const r = await raw(agent.url, {});
    assert.deepEqual(receiptServed(stored(agent, r.receiptId)), { weights: null, engine: null });
  });
});

describe('served digests in receipt v2', () => {
  test('weights and engine equal the digests measured at start (file and directory)', async (t) => {
    // Stops last-started first, then the folder goes (test/fixtures/cleanup.ts).
    const { dir, closers: c } = await tempDir(t, 'tmb-served-');
    await mkdir(join(dir, 'snapshot'));
    await writeFile(join(dir, 'snapshot', 'model-00001.safetensors'), 'shard one');
    await writeFile(join(dir, 'snapshot', 'model-00002.safetensors'), 'shard two');
    await writeFile(join(dir, 'draft.gguf'), 'a draft model');
    await writeFile(join(dir, 'llama-server'), '#!/bin/sh\necho engine\n');
    await writeFile(join(dir, 'engine.json'), '{"ctx":4096}');
    const up = await fakeUpstream((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    c.add(() => up.close(), 'model server');
    const agent = await agentFor(up.url, {
      measure: {
        // The first weights path is the one the receipt names; the draft stays in the log.
        weights: [join(dir, 'snapshot'), join(dir, 'draft.gguf')],
        engineExe: join(dir, 'llama-server'),
        engineConfig: [join(dir, 'engine.json')],
        agentBuild: false,
      },
    });
    c.add(() => agent.close(), 'agent');
    const r = await raw(agent.url, {});
    // Computed here, independently: a directory's digest is its manifest's (docs/ima.md).
    const manifest = `${sha('shard one')}  model-00001.safetensors\n${sha('shard two')}  model-00002.safetensors\n`;
    assert.deepEqual(receiptServed(stored(agent, r.receiptId)), {
      weights: sha(manifest),
      engine: sha('#!/bin/sh\necho engine\n'),
    });
    // The same as what the agent reported measuring at start.
    const measured = agent.logs.find((l) => l.event === 'host_measured')!.detail.paths as {
      role: string;
      digest: string;
    }[];
    assert.equal(measured.find((p) => p.role === 'weights')!.digest, `sha256:${sha(manifest)}`);
    assert.equal(
      measured.find((p) => p.role === 'engine')!.digest,
      `sha256:${sha('#!/bin/sh\necho engine\n')}`,
    );
  });

  test('a single GGUF file and no engine: weights is the file digest, engine null', async (t) => {
    // Stops last-started first, then the folder goes (test/fixtures/cleanup.ts).
    const { dir, closers: c } = await tempDir(t, 'tmb-served-');
    await writeFile(join(dir, 'model.gguf'), 'GGUF weights');
    const up = await fakeUpstream((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    c.add(() => up.close(), 'model server');
    const agent = await agentFor(up.url, {
      measure: { weights: [join(dir, 'model.gguf')], agentBuild: false },
    });
    c.add(() => agent.close(), 'agent');
    const r = await raw(agent.url, { [CLIENT_NONCE_HEADER]: 'q'.repeat(43) });
    const body = stored(agent, r.receiptId);
    assert.deepEqual(receiptServed(body), { weights: sha('GGUF weights'), engine: null });
    assert.equal(receiptClientNonce(body), 'q'.repeat(43));
  });
});
