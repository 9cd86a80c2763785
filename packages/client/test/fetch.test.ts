import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import { type ClientResult, createVerifiedFetch } from '@tmb/client';
import { L1_CHECKS } from '@tmb/core';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import OpenAI from 'openai';
import {
  AGENT,
  type FakeAgent,
  listen,
  startFakeAgent,
  startTamperProxy,
  stop,
  TOKEN,
} from './fake-agent.ts';

let verifier: RunningVerifier;
let agent: FakeAgent;
let key: JsonWebKey;
before(async () => {
  verifier = await startVerifier({ dbPath: ':memory:', tokens: [{ token: TOKEN, agent: AGENT }] });
  agent = await startFakeAgent(verifier.url);
  key = (await (await fetch(`${verifier.url}/v1/verifier-key`)).json()) as JsonWebKey;
});
after(async () => {
  await agent.close();
  await verifier.close();
});

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const statuses = (r: ClientResult) => Object.fromEntries(r.checks.map((c) => [c.name, c.status]));
const ALL_PASS = {
  'client.receipt_header': 'pass',
  'verifier.source': 'pass',
  'verifier.answer': 'pass',
  'verifier.result': 'pass',
  'verifier.binding': 'pass',
  'receipt.format': 'pass',
  'receipt.signature': 'pass',
  'receipt.id': 'pass',
  'agent.enrolled': 'pass',
  'client.request_hash': 'pass',
  'client.response_hash': 'pass',
  'client.nonce': 'pass',
  'client.response_complete': 'pass',
  // The fake agent has no TPM; read at once, within the inclusion deadline, the verifier cannot
  // tell it from one whose AK is not activated yet: the L1 checks are pending (issue 10).
  ...Object.fromEntries(L1_CHECKS.map((n) => [n, 'asserted'])),
};

function openai(baseURL: string, f: typeof fetch): OpenAI {
  return new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'sk-test', fetch: f, maxRetries: 0 });
}

async function verifierKey(): Promise<JsonWebKey> {
  return key;
}

test('the openai client, not streamed, through a verified fetch: every check passes at L0', async () => {
  const tmb = createVerifiedFetch({
    verifierUrl: verifier.url,
    waitMs: 5000,
    verifierKey: await verifierKey(),
  });
  const { data, response } = await openai(agent.url, tmb.fetch)
    .chat.completions.create({ model: 'sample-7b', messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();
  assert.equal(data.choices[0]?.message.content, 'Hello there, friend.');
  const result = await tmb.verify(response);
  assert.deepEqual(statuses(result), ALL_PASS);
  assert.equal(result.ok, true);
  assert.equal(result.level, 'L0');
  // Independently of the product: the bytes the agent saw and sent, hashed here.
  const x = agent.exchanges.find((e) => e.receiptId === result.receiptId)!;
  assert.equal(result.body?.request.sha256, sha256(x.request));
  assert.equal(result.body?.response.sha256, sha256(x.response));
  assert.equal(JSON.parse(x.request.toString()).model, 'sample-7b');
});

test('the openai client, streamed: the result comes after the last event and every check passes', async () => {
  const results: ClientResult[] = [];
  const tmb = createVerifiedFetch({
    verifierUrl: verifier.url,
    verifierKey: key,
    waitMs: 5000,
    onResult: (r) => results.push(r),
  });
  const { data: stream, response } = await openai(agent.url, tmb.fetch)
    .chat.completions.create({
      model: 'sample-7b',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    })
    .withResponse();
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  assert.equal(text, 'Hello there, friend.');
  const result = await tmb.verify(response);
  // openai cancels the body after `data: [DONE]`, having read every byte.
  assert.deepEqual(statuses(result), { ...ALL_PASS, 'client.response_complete': 'skipped' });
  assert.equal(result.ok, true);
  assert.equal(result.level, 'L0');
  assert.equal(results[0], result, 'onResult got the same result');
  const x = agent.exchanges.find((e) => e.receiptId === result.receiptId)!;
  assert.equal(result.body?.response.sha256, sha256(x.response));
  assert.equal(result.body?.response.stream, true);
});

test('a result signed by another key than the trusted verifier key fails verifier.result', async () => {
  const other = { ...(await verifierKey()) };
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const tmb = createVerifiedFetch({
    verifierUrl: verifier.url,
    waitMs: 5000,
    verifierKey: { ...other, x: jwk.x, y: jwk.y },
  });
  const { response } = await openai(agent.url, tmb.fetch)
    .chat.completions.create({ model: 'm', messages: [] })
    .withResponse();
  const result = await tmb.verify(response);
  const c = result.checks.find((x) => x.name === 'verifier.result');
  assert.deepEqual([c?.status, c?.code], ['fail', 'RESULT_INVALID']);
  assert.equal(result.ok, false);
});

test('a streamed body reaches the reader before the stream ends (not buffered)', async () => {
  let release!: () => void;
  agent.hold = new Promise((r) => {
    release = r;
  });
  try {
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url, verifierKey: key, waitMs: 5000 });
    const res = await tmb.fetch(`${agent.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', stream: true, messages: [] }),
    });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.match(Buffer.from(first.value!).toString(), /^data: /);
    release();
    while (!(await reader.read()).done) {}
    assert.equal((await tmb.verify(res)).ok, true);
  } finally {
    release();
    agent.hold = null;
  }
});

test('a response altered after the agent fails client.response_hash with RESPONSE_HASH_MISMATCH', async () => {
  const proxy = await startTamperProxy(agent.url, 'response');
  try {
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url, verifierKey: key, waitMs: 5000 });
    const { data, response } = await openai(proxy.url, tmb.fetch)
      .chat.completions.create({ model: 'sample-7b', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(data.choices[0]?.message.content, 'Jello there, friend.');
    const result = await tmb.verify(response);
    const c = result.checks.find((x) => x.name === 'client.response_hash');
    assert.deepEqual([c?.status, c?.code], ['fail', 'RESPONSE_HASH_MISMATCH']);
    assert.equal(result.ok, false);
    assert.equal(statuses(result)['receipt.signature'], 'pass', 'the receipt itself is genuine');
    // Issue 9: L0 covers exactly the bytes the client received; these are not those.
    assert.equal(result.level, 'none');
    // Streamed: the same one-byte change inside an SSE event.
    const streamed = await openai(proxy.url, tmb.fetch)
      .chat.completions.create({ model: 'sample-7b', messages: [], stream: true })
      .withResponse();
    for await (const _ of streamed.data) {
    }
    const s = (await tmb.verify(streamed.response)).checks.find((x) => x.name === 'client.response_hash');
    assert.deepEqual([s?.status, s?.code], ['fail', 'RESPONSE_HASH_MISMATCH']);
  } finally {
    await proxy.close();
  }
});

test('a request altered on the way fails client.request_hash with REQUEST_HASH_MISMATCH', async () => {
  const proxy = await startTamperProxy(agent.url, 'request');
  try {
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url, verifierKey: key, waitMs: 5000 });
    const { response } = await openai(proxy.url, tmb.fetch)
      .chat.completions.create({ model: 'sample-7b', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    const result = await tmb.verify(response);
    const c = result.checks.find((x) => x.name === 'client.request_hash');
    assert.deepEqual([c?.status, c?.code], ['fail', 'REQUEST_HASH_MISMATCH']);
    assert.equal(result.level, 'none');
  } finally {
    await proxy.close();
  }
});

test('a response without tmb-receipt-id gives RECEIPT_HEADER_MISSING, not a throw', async () => {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 1, model: 'm', choices: [] }));
  });
  const url = await listen(server);
  try {
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url, verifierKey: key });
    const { response } = await openai(url, tmb.fetch)
      .chat.completions.create({ model: 'm', messages: [] })
      .withResponse();
    const result = await tmb.verify(response);
    assert.equal(result.receiptId, null);
    assert.equal(result.level, 'none');
    const c = result.checks.find((x) => x.name === 'client.receipt_header');
    assert.deepEqual([c?.status, c?.code], ['fail', 'RECEIPT_HEADER_MISSING']);
    assert.equal(statuses(result)['receipt.signature'], 'skipped');
  } finally {
    await stop(server);
  }
});

test('a receipt never pushed gives RECEIPT_NOT_FOUND; an unreachable verifier VERIFIER_UNREACHABLE', async () => {
  agent.push = false;
  try {
    const tmb = createVerifiedFetch({ verifierUrl: verifier.url, verifierKey: key, waitMs: 50 });
    const { response } = await openai(agent.url, tmb.fetch)
      .chat.completions.create({ model: 'm', messages: [] })
      .withResponse();
    const c = (await tmb.verify(response)).checks.find((x) => x.name === 'verifier.answer');
    assert.deepEqual([c?.status, c?.code], ['fail', 'RECEIPT_NOT_FOUND']);
  } finally {
    agent.push = true;
  }
  const dead = createServer();
  const deadUrl = await listen(dead);
  await stop(dead);
  const tmb = createVerifiedFetch({ verifierUrl: deadUrl, verifierKey: key, waitMs: 50 });
  const { response } = await openai(agent.url, tmb.fetch)
    .chat.completions.create({ model: 'm', messages: [] })
    .withResponse();
  const c = (await tmb.verify(response)).checks.find((x) => x.name === 'verifier.answer');
  assert.deepEqual([c?.status, c?.code], ['fail', 'VERIFIER_UNREACHABLE']);
});

test('verify() of a response this fetch did not return throws RESPONSE_NOT_TRACKED', () => {
  const tmb = createVerifiedFetch();
  assert.throws(() => tmb.verify(new Response('x')), { code: 'RESPONSE_NOT_TRACKED' });
  assert.throws(() => createVerifiedFetch({ verifierUrl: 'ftp://x' }), { code: 'CLIENT_CONFIG_INVALID' });
});
