// The Store's behaviour, written once and run over every implementation (conformance.test.ts):
// SqliteStore and PgStore must answer these the same way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leafHash } from '@tmb/core/log';
import type { Store, StoredReceipt } from '../../src/store/types.ts';

/** Opens a fresh, empty store for one test; `close` also removes what it made. */
export type StoreFactory = () => Promise<{ store: Store; close(): Promise<void> }>;

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

/** A receipt of `agent` whose body is unique per id (so its leaf hash is too). */
export function receipt(id: string, o: Partial<StoredReceipt> = {}): StoredReceipt {
  return {
    id,
    requestId: 'req',
    agent: 'a',
    keyId: 'k',
    body: new TextEncoder().encode(`body-${id}`),
    sig: bytes(64, 1),
    receivedAt: 1_700_000_000_000,
    ...o,
  };
}

/** Defines the conformance tests for one implementation, each on a fresh store. */
export function storeConformance(name: string, open: StoreFactory, skip: string | false = false): void {
  const it = (title: string, fn: (s: Store) => Promise<void>) =>
    test(`${name}: ${title}`, { skip }, async () => {
      const { store, close } = await open();
      try {
        await fn(store);
      } finally {
        await close();
      }
    });

  it('a key enrols once, for any agent; lists come back in their documented order', async (s) => {
    assert.equal(await s.addKey({ agent: 'b', keyId: 'k2', key: bytes(32, 2), enrolledAt: 20 }), true);
    assert.equal(
      await s.addKey({ agent: 'a', keyId: 'k1', key: bytes(32, 1), enrolledAt: 1_700_000_000_123 }),
      true,
    );
    assert.equal(await s.addKey({ agent: 'b', keyId: 'k0', key: bytes(32, 3), enrolledAt: 20 }), true);
    assert.equal(await s.addKey({ agent: 'c', keyId: 'k1', key: bytes(32, 9), enrolledAt: 5 }), false);
    assert.deepEqual(await s.getKey('k1'), {
      agent: 'a',
      keyId: 'k1',
      key: bytes(32, 1),
      enrolledAt: 1_700_000_000_123,
    });
    assert.equal(await s.getKey('nope'), undefined);
    assert.deepEqual(
      (await s.listKeys()).map((k) => k.keyId),
      ['k1', 'k0', 'k2'],
      'by agent, enrolment time, key id',
    );
    assert.deepEqual(
      (await s.agentKeys('b')).map((k) => k.keyId),
      ['k2', 'k0'],
      'by enrolment time, then enrolment order',
    );
    assert.deepEqual(await s.agentKeys('zz'), []);
  });

  it('a receipt is stored once: a second push of its id gets the stored bytes back', async (s) => {
    assert.deepEqual(await s.putReceipts([]), []);
    const first = receipt('r1', { receivedAt: 7 });
    assert.deepEqual(await s.putReceipts([first, receipt('r2', { receivedAt: 3 })]), [
      'inserted',
      'inserted',
    ]);
    const again = await s.putReceipts([receipt('r1', { body: bytes(3, 9), receivedAt: 99 }), receipt('r3')]);
    assert.equal(again[1], 'inserted');
    assert.deepEqual(again[0], { ...first });
    assert.deepEqual(await s.getReceipt('r1'), first);
    assert.equal(await s.getReceipt('r9'), undefined);
    assert.deepEqual(
      (await s.byRequestId('req', 10)).map((r) => r.id),
      ['r2', 'r1', 'r3'],
      'oldest first',
    );
    assert.deepEqual(
      (await s.byRequestId('req', 2)).map((r) => r.id),
      ['r2', 'r1'],
    );
    assert.deepEqual(await s.storedReceipts(['r1', 'r3', 'r7']), new Set(['r1', 'r3']));
    assert.deepEqual(await s.storedReceipts([]), new Set());
  });

  it('a log position holds one receipt: another id at a taken seq is refused and not stored', async (s) => {
    const out = await s.putReceipts([
      receipt('r0', { seq: 0 }),
      receipt('r1', { seq: 1, keyId: 'k2' }),
      receipt('x1', { seq: 1 }),
      receipt('r0', { seq: 0 }),
      receipt('b0', { seq: 0, agent: 'b' }),
    ]);
    assert.deepEqual(out.slice(0, 3), ['inserted', 'inserted', 'seq-taken']);
    assert.equal((out[3] as StoredReceipt).id, 'r0', 'the same id again in one batch: the stored one');
    assert.equal(out[4], 'inserted', 'positions are per agent');
    assert.equal(await s.getReceipt('x1'), undefined);
    assert.deepEqual(await s.putReceipts([receipt('y0', { seq: 0 }), receipt('r2', { seq: 2 })]), [
      'seq-taken',
      'inserted',
    ]);
    const leaves = await s.leaves('a', 0, 10);
    assert.deepEqual(
      leaves.map((l) => l.seq),
      [0, 1, 2],
    );
    assert.deepEqual(leaves[1]!.hash, leafHash(receipt('r1').body));
    assert.deepEqual(
      (await s.leaves('a', 1, 1)).map((l) => l.seq),
      [1],
    );
    assert.deepEqual(
      await s.firstSeqs('a'),
      new Map([
        ['k', 0],
        ['k2', 1],
      ]),
    );
    await s.putReceipts([receipt('r5', { seq: 5, keyId: 'k2' })]);
    assert.deepEqual((await s.firstSeqs('a')).get('k2'), 1, 'the lowest seq stays');
  });

  it('a full batch of 1,000 receipts goes in at once', async (s) => {
    const list = Array.from({ length: 1000 }, (_, i) => receipt(`r${i}`, { seq: i }));
    const out = await s.putReceipts(list);
    assert.ok(out.every((o) => o === 'inserted'));
    assert.equal((await s.leaves('a', 0, 2000)).length, 1000);
    assert.deepEqual(await s.firstSeqs('a'), new Map([['k', 0]]));
  });

  it('an AK replacement allowance is used up once; attestation state is the last one written', async (s) => {
    assert.equal(await s.takeAkAllowance('a'), false);
    await s.allowAkReplacement('a', 1);
    await s.allowAkReplacement('a', 2);
    assert.equal(await s.takeAkAllowance('a'), true);
    assert.equal(await s.takeAkAllowance('a'), false);
    assert.equal(await s.getAttest('a'), undefined);
    await s.putAttest('a', '{"v":1}');
    await s.putAttest('a', '{"v":2}');
    assert.equal(await s.getAttest('a'), '{"v":2}');
  });

  it('attestation rows carry a version: compare-and-set lets exactly one writer win', async (s) => {
    assert.equal(await s.readAttest('a'), undefined);
    assert.equal(await s.putAttestIf('a', 'one', 0), 1);
    assert.equal(await s.putAttestIf('a', 'other', 0), undefined, 'a row exists now');
    assert.deepEqual(await s.readAttest('a'), { version: 1, state: 'one' });
    assert.deepEqual(await s.readAttest('a', 1), { version: 1 }, 'the reader holds it: no text');
    const racers = await Promise.all([s.putAttestIf('a', 'x', 1), s.putAttestIf('a', 'y', 1)]);
    assert.deepEqual(
      racers.filter((v) => v !== undefined),
      [2],
    );
    await s.putAttest('a', 'z');
    assert.deepEqual(await s.readAttest('a', 2), { version: 3, state: 'z' });
  });

  it('log trees grow and never shrink; level 0 reads the leaf at base + index', async (s) => {
    await s.putReceipts([receipt('r10', { seq: 10 }), receipt('r11', { seq: 11 })]);
    assert.equal(await s.logTreeSize('a', 1, 10), 0);
    await s.growLogTree('a', 1, 10, 2, [{ level: 1, index: 0, hash: bytes(32, 5) }]);
    await s.growLogTree('a', 1, 10, 1, []);
    assert.equal(await s.logTreeSize('a', 1, 10), 2);
    assert.equal(await s.logTreeSize('a', 2, 10), 0);
    const got = await s.logNodes('a', 1, 10, [
      { level: 0, index: 1 },
      { level: 1, index: 0 },
      { level: 1, index: 1 },
      { level: 0, index: 5 },
    ]);
    assert.deepEqual(got, [leafHash(receipt('r11').body), bytes(32, 5), undefined, undefined]);
    assert.deepEqual(await s.logNodes('a', 2, 10, [{ level: 1, index: 0 }]), [undefined]);
  });

  it('a growth of many nodes is stored whole; a node written again keeps its first hash', async (s) => {
    // More nodes than one PostgreSQL statement takes (pg-receipts.ts CHUNK), and a few in one.
    const many = Array.from({ length: 5003 }, (_, i) => ({ level: 2, index: i, hash: bytes(32, i % 251) }));
    await s.growLogTree('a', 1, 0, 4, [{ level: 1, index: 0, hash: bytes(32, 1) }]);
    await s.growLogTree('a', 1, 0, 20_012, [{ level: 1, index: 0, hash: bytes(32, 2) }, ...many]);
    assert.equal(await s.logTreeSize('a', 1, 0), 20_012);
    const got = await s.logNodes('a', 1, 0, [
      { level: 1, index: 0 },
      { level: 2, index: 0 },
      { level: 2, index: 5002 },
    ]);
    assert.deepEqual(got, [bytes(32, 1), bytes(32, 0), bytes(32, 5002 % 251)]);
    await s.growLogTree('a', 1, 0, 8, [{ level: 3, index: 0, hash: bytes(32, 9) }]);
    assert.equal(await s.logTreeSize('a', 1, 0), 20_012, 'a size never shrinks');
    assert.deepEqual(await s.logNodes('a', 1, 0, [{ level: 3, index: 0 }]), [bytes(32, 9)]);
  });

  it('the first refusal of a seq is kept; firstRefusal finds the lowest in range', async (s) => {
    await s.putRefusals('a', [
      { seq: 4, code: 'FIRST', at: 1 },
      { seq: 4, code: 'SECOND', at: 2 },
      { seq: 9, code: 'NINE', at: 3 },
    ]);
    await s.putRefusals('a', [{ seq: 9, code: 'LATER', at: 4 }]);
    assert.deepEqual(await s.firstRefusal('a', 0, 100), { seq: 4, code: 'FIRST', at: 1 });
    assert.deepEqual(await s.firstRefusal('a', 5, 100), { seq: 9, code: 'NINE', at: 3 });
    assert.equal(await s.firstRefusal('a', 5, 9), undefined, 'the end is excluded');
    assert.equal(await s.firstRefusal('b', 0, 100), undefined);
  });

  it('a nonce is used once, by its agent, before it expires; old ones are pruned', async (s) => {
    await s.issueNonce('a', 'n1', 100, 0, 8);
    await s.issueNonce('a', 'n2', 50, 0, 8);
    assert.equal(await s.consumeNonce('b', 'n1', 10), 'other-agent');
    assert.equal(await s.consumeNonce('a', 'n1', 10), 'ok');
    assert.equal(await s.consumeNonce('a', 'n1', 10), 'reused');
    assert.equal(await s.consumeNonce('a', 'n2', 50), 'unknown', 'expired at its expiry');
    assert.equal(await s.consumeNonce('a', 'zz', 10), 'unknown');
    for (let i = 0; i < 5; i++) await s.issueNonce('c', `c${i}`, 1000 + i, 0, 3);
    assert.equal(await s.consumeNonce('c', 'c0', 10), 'unknown', 'past perAgent: the oldest go');
    assert.equal(await s.consumeNonce('c', 'c4', 10), 'ok');
    // The cap counts live nonces only, ranks by expiry then issue order (a tie: the newer is
    // kept), and a nonce issued past the cap that expires before all the others is never live.
    await s.issueNonce('e', 'e0', 5, 0, 2);
    await s.issueNonce('e', 'e1', 500, 0, 2);
    await s.issueNonce('e', 'e2', 500, 0, 2);
    await s.issueNonce('e', 'e3', 500, 10, 2);
    assert.equal(await s.consumeNonce('e', 'e1', 20), 'unknown', 'a tie: the older of two goes');
    await s.issueNonce('e', 'e4', 400, 10, 2);
    assert.equal(await s.consumeNonce('e', 'e4', 20), 'unknown', 'past the cap and the earliest to expire');
    assert.equal(await s.consumeNonce('e', 'e2', 20), 'ok');
    await s.issueNonce('e', 'e5', 600, 10, 2);
    assert.equal(await s.consumeNonce('e', 'e3', 20), 'ok', 'ranked above e2, still held');
    assert.equal(await s.consumeNonce('e', 'e5', 20), 'ok');
    await s.issueNonce('f', 'f0', 100, 0, 0);
    assert.equal(await s.consumeNonce('f', 'f0', 20), 'unknown', 'perAgent 0 keeps none');
    await s.issueNonce('d', 'd1', 1000, 0, 8);
    const both = await Promise.all([s.consumeNonce('d', 'd1', 10), s.consumeNonce('d', 'd1', 10)]);
    assert.deepEqual(both.sort(), ['ok', 'reused']);
  });

  it('a pending AK is taken once and never after it expires', async (s) => {
    assert.equal(await s.hasPendingAk('a', 0), false);
    await s.putPendingAk('a', 'p1', 100);
    await s.putPendingAk('a', 'p2', 100);
    assert.equal(await s.hasPendingAk('a', 99), true);
    assert.equal(await s.hasPendingAk('a', 100), false);
    assert.equal(await s.takePendingAk('a', 10), 'p2');
    assert.equal(await s.takePendingAk('a', 10), undefined);
    await s.putPendingAk('b', 'p', 100);
    assert.equal(await s.takePendingAk('b', 100), undefined, 'expired');
    assert.equal(await s.hasPendingAk('b', 0), false, 'and gone');
  });

  it('archived quotes: n and boot are decided on append; the judging boot comes back whole', async (s) => {
    const q = (resetCount: number, seqEnd: number, fresh: boolean) => ({
      resetCount,
      seqEnd,
      fresh,
      quote: `{"r":${resetCount},"e":${seqEnd}}`,
    });
    assert.deepEqual(await s.archivedFor('a', 0), []);
    assert.deepEqual(await s.appendArchived('a', q(1, 5, false), 2), { n: 0, boot: 0 }, 'first row: a boot');
    assert.deepEqual(await s.appendArchived('a', q(1, 9, false), 2), { n: 1, boot: 0 });
    assert.deepEqual(await s.appendArchived('a', q(1, 12, true), 2), { n: 2, boot: 2 }, 'fresh: a boot');
    assert.deepEqual(await s.appendArchived('a', q(2, 15, false), 2), { n: 3, boot: 3 }, 'a reboot');
    assert.deepEqual(await s.appendArchived('b', q(2, 1, false), 2), { n: 0, boot: 0 }, 'per agent');
    const ends = async (seq: number) => (await s.archivedFor('a', seq)).map((r) => [r.n, r.seqEnd]);
    assert.deepEqual(await ends(4), [[2, 12]], 'boot 0 was pruned (2 boots kept): boot 2 judges');
    assert.deepEqual(await ends(12), [[3, 15]]);
    assert.deepEqual(await ends(15), []);
    assert.deepEqual(await s.appendArchived('a', q(2, 20, false), 2), { n: 4, boot: 3 });
    assert.deepEqual(await s.archivedFor('a', 16), [
      { n: 3, boot: 3, resetCount: 2, seqEnd: 15, quote: '{"r":2,"e":15}' },
      { n: 4, boot: 3, resetCount: 2, seqEnd: 20, quote: '{"r":2,"e":20}' },
    ]);
    assert.equal((await s.archivedFor('b', 0)).length, 1);
  });

  it('attestation rows are read and written several at once; each write adds one to its version', async (s) => {
    assert.deepEqual(await s.getAttestRows(['x', 'y']), [undefined, undefined]);
    await s.putAttestRows([
      ['x', '1'],
      ['y', '2'],
    ]);
    await s.putAttestRows([['y', '3']]);
    assert.deepEqual(await s.getAttestRows(['y', 'z', 'x']), ['3', undefined, '1']);
    assert.deepEqual(await s.readAttest('y'), { version: 2, state: '3' });
    assert.deepEqual(await s.readAttest('x'), { version: 1, state: '1' });
  });
}
