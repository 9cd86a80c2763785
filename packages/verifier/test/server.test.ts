import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier, VerifierError } from '@tmb/verifier';
import fc from 'fast-check';
import { agentTokens, call, enrolBody, newKey, receiptBody, signBody, TOKEN, tokenFor } from './fixtures.ts';

let v: RunningVerifier;
before(async () => {
  v = await startVerifier({
    dbPath: ':memory:',
    tokens: agentTokens('gpu-1', 'fuzz'),
    maxBodyBytes: 64 * 1024,
    rateLimit: false,
  });
});
after(() => v.close());

test('a body over the limit is 413 BODY_TOO_LARGE, declared or streamed', async () => {
  const big = JSON.stringify({ agent: 'a', receipts: ['x'.repeat(70 * 1024)] });
  const r = await call(`${v.url}/v1/receipts`, 'POST', big);
  assert.equal(r.status, 413);
  assert.equal((r.json.error as { code: string }).code, 'BODY_TOO_LARGE');
  // Chunked, with no Content-Length: refused once the count passes the limit.
  const status = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${v.url}/v1/agents/enroll`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'transfer-encoding': 'chunked' },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    for (let i = 0; i < 80; i++) req.write('x'.repeat(1024));
    req.end();
  });
  assert.equal(status.status, 413);
  assert.equal(JSON.parse(status.body).error.code, 'BODY_TOO_LARGE');
});

test('a request not received in time is 408 REQUEST_TIMEOUT in the JSON error shape', async () => {
  const slow = await startVerifier({ dbPath: ':memory:', tokens: [], requestTimeoutMs: 200 });
  try {
    const { port } = new URL(slow.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /v1/receipts HTTP/1.1\r\nhost: x\r\n');
      });
      let text = '';
      socket.on('data', (d) => {
        text += d;
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 408 /);
    assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code, 'REQUEST_TIMEOUT');
  } finally {
    await slow.close();
  }
});

test('a malformed HTTP request is 400 BODY_MALFORMED in the JSON error shape', async () => {
  const { port } = new URL(v.url);
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.write('NOT HTTP AT ALL\r\n\r\n'));
    let text = '';
    socket.on('data', (d) => {
      text += d;
    });
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
  });
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.match(answer, /"BODY_MALFORMED"/);
});

test('bad options are refused with VERIFIER_CONFIG_INVALID', async () => {
  for (const o of [
    { dbPath: '', tokens: [] },
    { dbPath: ':memory:', tokens: [{ token: 'short', agent: 'a' }] },
    { dbPath: ':memory:', tokens: [{ token: 'unnamed-token-0123456789' }] },
    { dbPath: ':memory:', tokens: [{ token: 'named-token-0123456789', agent: 'has space' }] },
    { dbPath: ':memory:', tokens: agentTokens('a', 'a').map((t, i) => ({ ...t, agent: `a${i}` })) },
    { dbPath: ':memory:', tokens: [], readerTokens: ['short'] },
    { dbPath: ':memory:', tokens: agentTokens('a'), readerTokens: [agentTokens('a')[0]!.token] },
    { dbPath: ':memory:', tokens: [], rateLimit: { perSecond: 0, burst: 1 } },
    { dbPath: ':memory:', tokens: [], inclusionDeadlineMs: 0 },
    { dbPath: ':memory:', tokens: [], port: 70000 },
  ]) {
    await assert.rejects(
      startVerifier(o as Parameters<typeof startVerifier>[0]),
      (e: unknown) => e instanceof VerifierError && e.code === 'VERIFIER_CONFIG_INVALID',
    );
  }
});

test('close() ends a pending long-poll with 404 and does not hang', async () => {
  const other = await startVerifier({ dbPath: ':memory:', tokens: [] });
  const pending = call(`${other.url}/v1/receipts/${'2'.repeat(32)}?wait=30000`, 'GET').catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 50));
  await other.close();
  const r = await pending;
  assert.ok(r instanceof Error || r.status === 404);
});

// Random and mutated JSON bodies to every endpoint: always a 4xx JSON error or a 200, never a 5xx or a crash.
const ENDPOINTS: [string, string][] = [
  ['POST', '/v1/agents/enroll'],
  ['POST', '/v1/receipts'],
  ['GET', '/v1/receipts/00112233445566778899aabbccddeeff'],
  ['GET', '/v1/requests/x'],
  ['GET', '/v1/agents'],
  ['PUT', '/v1/receipts'],
];

test('property: random and mutated bodies never give a 5xx', async () => {
  const k = newKey('fuzz');
  assert.equal((await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
  const good = { agent: 'fuzz', receipts: [signBody(k, receiptBody(k))] };
  const goodText = JSON.stringify(good);
  const mutated = fc
    .tuple(fc.nat(goodText.length - 1), fc.string({ maxLength: 4 }), fc.nat(3))
    .map(([at, s, del]) => goodText.slice(0, at) + s + goodText.slice(at + del));
  const body = fc.oneof(
    fc.json().map((j) => j),
    fc.jsonValue().map((j) => JSON.stringify({ agent: 'fuzz', receipts: [j], key: j, proof: j })),
    fc.jsonValue().map((j) => JSON.stringify({ agent: 'fuzz', receipts: [{ body: j, sig: j }] })),
    mutated,
    fc.string(),
  );
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...ENDPOINTS), body, async ([method, path], text) => {
      const res = await fetch(`${v.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${tokenFor('fuzz')}`, 'content-type': 'application/json' },
        body: method === 'GET' ? undefined : text,
        signal: AbortSignal.timeout(30_000),
      });
      assert.ok(res.status < 500, `${method} ${path} ${text} -> ${res.status}`);
      const json = (await res.json()) as { error?: { code: string; message: string } };
      if (res.status >= 400) {
        assert.equal(typeof json.error?.code, 'string');
        assert.equal(typeof json.error?.message, 'string');
      }
    }),
    { numRuns: 300 },
  );
});

test('property: random paths and query strings never give a 5xx', async () => {
  const segment = fc.oneof(
    fc.string({ maxLength: 40 }).map(encodeURIComponent),
    fc.constantFrom(
      '%',
      '%E0%A4%A',
      '%00',
      '..',
      'v1',
      'receipts',
      'requests',
      '?wait=',
      '?wait=99999999999',
    ),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('/v1/receipts/', '/v1/requests/', '/v1/', '/'),
      fc.array(segment, { maxLength: 3 }),
      async (prefix, parts) => {
        const res = await fetch(`${v.url}${prefix}${parts.join('')}`, {
          signal: AbortSignal.timeout(30_000),
        });
        assert.ok(res.status < 500, `${prefix}${parts.join('')} -> ${res.status}`);
        const json = (await res.json()) as { error?: { code: string } };
        if (res.status >= 400) assert.equal(typeof json.error?.code, 'string');
      },
    ),
    { numRuns: 200 },
  );
});
