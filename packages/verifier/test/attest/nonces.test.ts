import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Nonces } from '../../src/attest/nonces.ts';

test('a nonce is single use, bound to its agent, and expires', () => {
  const n = new Nonces(1000);
  const { nonce } = n.issue('a', 0);
  assert.match(nonce, /^[0-9a-f]{64}$/);
  assert.equal(n.consume('b', nonce, 10)?.code, 'NONCE_UNKNOWN'); // another agent's
  assert.equal(n.consume('a', nonce, 10), undefined);
  assert.equal(n.consume('a', nonce, 20)?.code, 'NONCE_REUSED');
  assert.equal(n.consume('a', 'ff'.repeat(32), 20)?.code, 'NONCE_UNKNOWN');
  const late = n.issue('a', 0).nonce;
  assert.equal(n.consume('a', late, 1000)?.code, 'NONCE_UNKNOWN'); // expired
});

test('an agent holds at most perAgent live nonces: the oldest is dropped', () => {
  const n = new Nonces(60_000, 2);
  const first = n.issue('a', 0).nonce;
  const second = n.issue('a', 0).nonce;
  const third = n.issue('a', 0).nonce;
  const other = n.issue('b', 0).nonce;
  assert.equal(n.consume('a', first, 1)?.code, 'NONCE_UNKNOWN');
  assert.equal(n.consume('a', second, 1), undefined);
  assert.equal(n.consume('a', third, 1), undefined);
  assert.equal(n.consume('b', other, 1), undefined);
});
