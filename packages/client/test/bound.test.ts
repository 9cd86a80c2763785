// Issue 9, "Why": the client must not report results it has not earned. Each test is one way a
// dishonest provider (its router) or someone between client and verifier tried to, against the
// real verifier and the official openai client.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ClientResult, createVerifiedFetch, type VerifiedFetchOptions } from '@tmb/client';
import { CLIENT_NONCE_HEADER } from '@tmb/core';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import OpenAI from 'openai';
import {
  AGENT,
  type FakeAgent,
  startFakeAgent,
  startRouter,
  startTamperProxy,
  startVerifierMitm,
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

const check = (r: ClientResult, name: string) => r.checks.find((c) => c.name === name);
const failed = (r: ClientResult) => r.checks.filter((c) => c.status === 'fail').map((c) => c.code);
const ASK = { model: 'sample-7b', messages: [{ role: 'user' as const, content: 'hi' }] };

async function ask(
  baseURL: string,
  options: VerifiedFetchOptions = { verifierUrl: verifier.url, verifierKey: key },
): Promise<{ result: ClientResult; content: string | null | undefined }> {
  const tmb = createVerifiedFetch({ waitMs: 5000, ...options });
  const openai = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'sk-test', fetch: tmb.fetch, maxRetries: 0 });
  const { data, response } = await openai.chat.completions.create(ASK).withResponse();
  return { result: await tmb.verify(response), content: data.choices[0]?.message.content };
}

test('the verified fetch sends a fresh 43-character nonce and the receipt carries it', async () => {
  const seen: string[] = [];
  const spy = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const n = new Headers(init?.headers).get(CLIENT_NONCE_HEADER);
    if (n !== null) seen.push(n);
    return fetch(input, init);
  }) as typeof fetch;
  const tmb = createVerifiedFetch({ verifierUrl: verifier.url, verifierKey: key, fetch: spy, waitMs: 5000 });
  const openai = new OpenAI({ baseURL: `${agent.url}/v1`, apiKey: 'k', fetch: tmb.fetch, maxRetries: 0 });
  const a = await openai.chat.completions.create(ASK).withResponse();
  const b = await openai.chat.completions
    .create(ASK, { headers: { [CLIENT_NONCE_HEADER]: 'caller-chosen-nonce-0000' } })
    .withResponse();
  const [ra, rb] = [await tmb.verify(a.response), await tmb.verify(b.response)];
  assert.equal(seen.length, 2);
  assert.match(seen[0]!, /^[A-Za-z0-9_-]{43}$/);
  assert.notEqual(seen[0], seen[1]);
  assert.notEqual(seen[1], 'caller-chosen-nonce-0000', "the client's own nonce replaces a caller's");
  assert.equal(ra.body?.v === 2 && ra.body.client.nonce, seen[0]);
  assert.equal(check(ra, 'client.nonce')?.status, 'pass');
  assert.equal(check(rb, 'client.nonce')?.status, 'pass');
  assert.deepEqual([ra.level, ra.ok, rb.level, rb.ok], ['L0', true, 'L0', true]);
});

test('an answer changed by one byte after the agent: ok false and level none', async () => {
  const proxy = await startTamperProxy(agent.url, 'response');
  try {
    const { result, content } = await ask(proxy.url);
    assert.equal(content, 'Jello there, friend.');
    assert.deepEqual([result.ok, result.level], [false, 'none']);
    assert.deepEqual(failed(result), ['RESPONSE_HASH_MISMATCH']);
  } finally {
    await proxy.close();
  }
});

test("a router copying another answer's tmb-receipt-id: level none", async () => {
  const router = await startRouter(agent.url, 'copy-id');
  try {
    const first = await ask(router.url);
    assert.equal(first.result.ok, true, 'the first answer carries its own id');
    const { result } = await ask(router.url);
    assert.equal(
      check(result, 'receipt.signature')?.status,
      'pass',
      "the other request's receipt is genuine",
    );
    assert.deepEqual([result.ok, result.level], [false, 'none']);
    assert.equal(check(result, 'client.nonce')?.code, 'CLIENT_NONCE_MISMATCH');
  } finally {
    await router.close();
  }
});

test("two identical requests, the second relabelled with the first's receipt: the nonce fails, none", async () => {
  const router = await startRouter(agent.url, 'replay');
  try {
    const first = await ask(router.url);
    const { result, content } = await ask(router.url);
    assert.equal(content, 'Hello there, friend.');
    assert.equal(result.receiptId, first.result.receiptId, 'the same receipt, served again');
    // Same request bytes, same answer bytes: only the client's own nonce tells them apart.
    assert.equal(check(result, 'client.request_hash')?.status, 'pass');
    assert.equal(check(result, 'client.response_hash')?.status, 'pass');
    assert.deepEqual([result.ok, result.level], [false, 'none']);
    assert.deepEqual(failed(result), ['CLIENT_NONCE_MISMATCH']);
  } finally {
    await router.close();
  }
});

test('no verifierUrl or no verifierKey: level none, and a failed check says why', async () => {
  let asked = 0;
  const counting = (async (input: RequestInfo | URL, init?: RequestInit) => {
    if (String(input instanceof Request ? input.url : input).startsWith(verifier.url)) asked++;
    return fetch(input, init);
  }) as typeof fetch;
  const none = await ask(agent.url, { fetch: counting, verifierKey: key });
  assert.deepEqual([none.result.ok, none.result.level], [false, 'none']);
  const source = check(none.result, 'verifier.source');
  assert.deepEqual([source?.status, source?.code], ['fail', 'VERIFIER_NOT_CONFIGURED']);
  assert.match(source?.detail ?? '', /no verifierUrl configured/);
  assert.equal(asked, 0, "the provider's tmb-receipt-url is never used to choose a verifier");

  const keyless = await ask(agent.url, { verifierUrl: verifier.url });
  assert.deepEqual([keyless.result.ok, keyless.result.level], [false, 'none']);
  const r = check(keyless.result, 'verifier.result');
  assert.deepEqual([r?.status, r?.code], ['fail', 'VERIFIER_NOT_CONFIGURED']);
  assert.match(r?.detail ?? '', /no verifierKey configured/);
});

test('a man in the middle rewriting the unsigned verdict to L2, ok: the client reports the signed L0', async () => {
  const mitm = await startVerifierMitm(verifier.url, (a) => {
    const v = a.verdict as { level: string; ok: boolean; checks: { status: string }[] };
    v.level = 'L2';
    v.ok = true;
    for (const c of v.checks) c.status = 'pass';
  });
  try {
    const { result } = await ask(agent.url, { verifierUrl: mitm.url, verifierKey: key });
    assert.equal(result.verdict?.level, 'L2', 'the unsigned verdict was rewritten');
    assert.equal(result.level, 'L0', 'the level is the signed one');
    assert.equal(result.ok, true, 'the answer itself is genuine');
    assert.equal(check(result, 'verifier.binding')?.status, 'pass');
  } finally {
    await mitm.close();
  }
});

test('a man in the middle rewriting agentKey, the receipt or the attestation fails verifier.binding', async () => {
  const rewrites: [string, (a: Record<string, unknown>) => void][] = [
    [
      'agentKey',
      (a) => {
        a.agentKey = Buffer.alloc(32, 9).toString('base64url');
      },
    ],
    [
      'attestation',
      (a) => {
        a.attestation = {
          checkpoint: 'tmb/agent/fake-agent\n1\nAAAA\n',
          checkpointKey: null,
          proof: { v: 1, index: 0, size: 1, hashes: [] },
        };
      },
    ],
    [
      'the receipt body',
      (a) => {
        const r = a.receipt as { body: string; sig: string };
        const body = JSON.parse(Buffer.from(r.body, 'base64url').toString()) as { time: { end: number } };
        body.time.end += 1;
        r.body = Buffer.from(JSON.stringify(body)).toString('base64url');
      },
    ],
  ];
  for (const [what, rewrite] of rewrites) {
    const mitm = await startVerifierMitm(verifier.url, rewrite);
    try {
      const { result } = await ask(agent.url, { verifierUrl: mitm.url, verifierKey: key });
      const b = check(result, 'verifier.binding');
      assert.deepEqual([b?.status, b?.code], ['fail', 'RESULT_BINDING_MISMATCH'], what);
      assert.match(b?.detail ?? '', new RegExp(`^${what}`), what);
      assert.deepEqual([result.ok, result.level], [false, 'none'], what);
    } finally {
      await mitm.close();
    }
  }
});

test('a man in the middle rewriting the signed result itself fails verifier.result: none', async () => {
  const mitm = await startVerifierMitm(verifier.url, (a) => {
    const [h, p, s] = String(a.result).split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims.submods['tmb-receipt']['tmb.level'] = 'L2';
    a.result = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  });
  try {
    const { result } = await ask(agent.url, { verifierUrl: mitm.url, verifierKey: key });
    const r = check(result, 'verifier.result');
    assert.deepEqual([r?.status, r?.code], ['fail', 'RESULT_INVALID']);
    assert.deepEqual([result.ok, result.level], [false, 'none']);
  } finally {
    await mitm.close();
  }
});
