import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { TrustedProxies } from '../src/http/proxies.ts';
import { startVerifier } from '../src/index.ts';
import { RateLimiter } from '../src/ratelimit.ts';

// Rate limits behind a load balancer (docs/api.md, "Rate limits"): X-Forwarded-For names the
// client only when the peer is a trusted proxy, and then its right-most untrusted hop.

const LB = '10.1.2.3';

test('no proxy trusted (the default): X-Forwarded-For is ignored, the peer is the client', () => {
  const p = new TrustedProxies([]);
  assert.equal(p.client(LB, '203.0.113.7'), LB);
  assert.equal(p.client('::ffff:127.0.0.1', '203.0.113.7'), '::ffff:127.0.0.1');
  assert.equal(p.client(undefined, undefined), 'unknown');
});

test('a spoofed X-Forwarded-For from a peer that is not a trusted proxy is ignored', () => {
  const p = new TrustedProxies(['10.0.0.0/8']);
  assert.equal(p.client('198.51.100.9', '203.0.113.7'), '198.51.100.9');
  assert.equal(p.client('198.51.100.9', '10.0.0.1'), '198.51.100.9');
});

test('from a trusted proxy: the right-most hop that is not a trusted proxy is the client', () => {
  const p = new TrustedProxies(['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
  assert.equal(p.client(LB, '203.0.113.7'), '203.0.113.7');
  // The left part is the client's own word: a client cannot move itself into another bucket.
  assert.equal(p.client(LB, '192.0.2.1, 203.0.113.7'), '203.0.113.7');
  // Chained proxies are skipped from the right.
  assert.equal(p.client(LB, '203.0.113.7, 10.9.9.9'), '203.0.113.7');
  assert.equal(p.client('::ffff:127.0.0.1', '2001:DB8::1'), '2001:db8::1');
  assert.equal(p.client('fd12::5', '203.0.113.7,fd00::1'), '203.0.113.7');
  // Two headers (Node joins them with ", "), read as one list.
  assert.equal(p.client(LB, ['192.0.2.1', '203.0.113.8']), '203.0.113.8');
  // Every hop a trusted proxy: the left-most.
  assert.equal(p.client(LB, '10.0.0.5, 10.0.0.6'), '10.0.0.5');
});

test('a malformed X-Forwarded-For from a trusted proxy is ignored: the peer is the client', () => {
  const p = new TrustedProxies(['10.0.0.0/8']);
  for (const bad of [
    '',
    ',',
    'unknown',
    '203.0.113.7:4711',
    '[2001:db8::1]',
    '203.0.113.7, ',
    '203.0.113.256',
    'fe80::1%eth0',
    'example.com',
    Array.from({ length: 33 }, () => '203.0.113.7').join(','),
    `${'1'.repeat(3000)}`,
  ])
    assert.equal(p.client(LB, bad), LB, JSON.stringify(bad));
});

test('trusted proxy entries: addresses and CIDR ranges; anything else is refused', () => {
  for (const ok of ['127.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::1', 'fd00::/8', '::ffff:10.0.0.1'])
    assert.doesNotThrow(() => new TrustedProxies([ok]), ok);
  for (const bad of ['', 'localhost', '10.0.0.0/33', '10.0.0.0/8/1', '::/129', '10.0.0.0/x', '*'])
    assert.throws(() => new TrustedProxies([bad]), RangeError, bad);
});

test('property: any header, from any peer, never throws; the client is the peer or one of its hops, and the peer when untrusted', () => {
  const p = new TrustedProxies(['10.0.0.0/8', '::1']);
  const hop = fc.oneof(
    fc.ipV4(),
    fc.ipV6(),
    fc.constantFrom('10.0.0.1', '10.2.3.4', '::1'),
    fc.string({ maxLength: 12 }),
  );
  const header = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.array(hop, { maxLength: 40 }).map((h) => h.join(',')),
    fc.array(hop, { maxLength: 5 }).map((h) => h.join(' , ')),
  );
  fc.assert(
    fc.property(fc.constantFrom(LB, '198.51.100.9', '::1', undefined), header, (peer, xff) => {
      const client = p.client(peer, xff);
      if (peer === '198.51.100.9' || peer === undefined) return client === (peer ?? 'unknown');
      const hops = xff.split(',').map((h) =>
        h
          .trim()
          .toLowerCase()
          .replace(/^::ffff:(?=\d+\.)/, ''),
      );
      return client === peer || hops.includes(client);
    }),
    { numRuns: 2000 },
  );
});

test('RateLimiter: behind a trusted balancer, two clients get separate buckets', () => {
  const l = new RateLimiter({ perSecond: 1, burst: 1, maxClients: 10, trustProxy: [LB] }, () => 0);
  assert.equal(l.take(l.clientOf(LB, '203.0.113.1')).ok, true);
  assert.equal(l.take(l.clientOf(LB, '203.0.113.2')).ok, true);
  assert.equal(l.take(l.clientOf(LB, '203.0.113.1')).ok, false);
});

/** Status of GET /v1/verifier-key (a public, rate-limited route) with X-Forwarded-For `xff`. */
async function status(url: string, xff: string | null): Promise<number> {
  const r = await fetch(
    `${url}/v1/verifier-key`,
    xff === null ? {} : { headers: { 'x-forwarded-for': xff } },
  );
  await r.arrayBuffer();
  return r.status;
}

test('the verifier: without trustProxy, spoofed X-Forwarded-For from 127.0.0.1 shares one bucket', async (t) => {
  const v = await startVerifier({
    dbPath: ':memory:',
    tokens: [],
    rateLimit: { perSecond: 0.001, burst: 1 },
  });
  t.after(() => v.close());
  assert.equal(await status(v.url, '203.0.113.1'), 200);
  assert.equal(await status(v.url, '203.0.113.2'), 429, 'a client cannot pick a fresh bucket');
});

test("the verifier: with trustProxy 127.0.0.1, clients behind it get a bucket each; a malformed header takes the balancer's", async (t) => {
  const v = await startVerifier({
    dbPath: ':memory:',
    tokens: [],
    rateLimit: { perSecond: 0.001, burst: 1, trustProxy: ['127.0.0.1', '::1'] },
  });
  t.after(() => v.close());
  assert.equal(await status(v.url, '203.0.113.1'), 200);
  assert.equal(await status(v.url, '203.0.113.2'), 200);
  assert.equal(await status(v.url, '203.0.113.1'), 429);
  assert.equal(await status(v.url, 'not-an-address'), 200, "the balancer's own bucket");
  assert.equal(await status(v.url, null), 429, "the same bucket: the balancer's");
});

test('the verifier refuses a trustProxy entry that is not an address or range', async () => {
  await assert.rejects(
    startVerifier({ dbPath: ':memory:', tokens: [], rateLimit: { trustProxy: ['lb.internal'] } }),
    { code: 'VERIFIER_CONFIG_INVALID', message: /lb\.internal/ },
  );
  await assert.rejects(
    startVerifier({
      dbPath: ':memory:',
      tokens: [],
      rateLimit: { trustProxy: '127.0.0.1' as unknown as string[] },
    }),
    { code: 'VERIFIER_CONFIG_INVALID' },
  );
});
