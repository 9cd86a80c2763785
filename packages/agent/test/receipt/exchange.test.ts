import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { ExchangeRecord } from '../../src/receipt/exchange.ts';

// The receipt binds the exact bytes of the exchange: however the proxy receives them in chunks,
// the hashes and lengths are those of the whole request and the whole response.

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const facts = {
  method: 'POST',
  path: '/v1/chat/completions',
  status: 200,
  upstreamStatus: 200,
  stream: false,
  model: { requested: 'm', reported: 'm' },
  usage: { prompt: 1, completion: 2, total: 3 },
  outcome: 'complete' as const,
};

test('the fields name the whole request and response, hashed and counted over every chunk', () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }),
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }),
      (reqChunks, resChunks) => {
        const r = new ExchangeRecord(1_000, 'req-1', null);
        for (const c of reqChunks) r.request(c);
        for (const c of resChunks) r.response(c);
        const f = r.fields(facts);
        const req = Buffer.concat(reqChunks);
        const res = Buffer.concat(resChunks);
        assert.equal(f.request.sha256, sha256(req));
        assert.equal(f.request.bytes, req.length);
        assert.equal(f.response.sha256, sha256(res));
        assert.equal(f.response.bytes, res.length);
        assert.equal(f.time.firstByte === null, resChunks.length === 0);
      },
    ),
  );
});

test('ids, nonce, start and the proxy facts are carried as given; time runs forward', () => {
  const r = new ExchangeRecord(1_000, 'router-id', 'n'.repeat(43));
  assert.match(r.id, /^[0-9a-f]{32}$/);
  assert.notEqual(new ExchangeRecord(1_000, 'x', null).id, r.id);
  r.response(Buffer.from('x'));
  const f = r.fields(facts);
  assert.equal(f.id, r.id);
  assert.deepEqual(f.request, {
    id: 'router-id',
    method: 'POST',
    path: '/v1/chat/completions',
    bytes: 0,
    sha256: sha256(new Uint8Array(0)),
  });
  assert.deepEqual(f.client, { nonce: 'n'.repeat(43) });
  assert.equal(f.outcome, 'complete');
  assert.deepEqual(f.model, facts.model);
  assert.deepEqual(f.usage, facts.usage);
  assert.equal(f.time.start, 1_000);
  assert.ok(f.time.firstByte !== null && f.time.end >= f.time.firstByte);
});

test('receipt ids stay distinct 32-hex-digit strings across refills of the random pool', () => {
  // Ids are cut from a pool of 256 (exchange.ts randomId): 1,000 of them cross several refills.
  const ids = Array.from({ length: 1_000 }, () => new ExchangeRecord(1_000, 'x', null).id);
  for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  assert.equal(new Set(ids).size, ids.length);
});
