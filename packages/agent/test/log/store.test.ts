import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, test } from 'node:test';
import { checkpointSigner, checkpointVerifierKey, ReceiptLog } from '@tmb/agent/log';
import { ed25519Raw } from '@tmb/core';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  MemoryTree,
  openCheckpoint,
  parseVerifierKey,
  verifyConsistency,
  verifyInclusion,
} from '@tmb/core/log';

const dir = mkdtempSync(join(tmpdir(), 'tmb-log-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const origin = 'tmb.test/agent-1';
const pair = generateKeyPairSync('ed25519');
const key = { privateKey: pair.privateKey, publicKey: ed25519Raw(pair.publicKey) };
const signer = checkpointSigner(origin, key);
const verifier = parseVerifierKey(checkpointVerifierKey(origin, key.publicKey));
const receipt = (i: number) => new TextEncoder().encode(`receipt ${i}`);

test('appends, roots and proofs agree with the in-memory reference tree, across reopen', () => {
  const path = join(dir, 'a.db');
  const log = ReceiptLog.open(path);
  const ref = new MemoryTree();
  assert.deepEqual(log.root(), ref.root());
  let next = 0;
  for (const batch of [1, 2, 5, 1, 13, 30, 1, 19]) {
    const items = Array.from({ length: batch }, () => receipt(next++));
    const indices = log.append(items);
    assert.deepEqual(
      indices,
      Array.from({ length: batch }, (_, i) => next - batch + i),
    );
    for (const r of items) ref.push(leafHash(r));
    assert.equal(log.size, ref.size);
    assert.deepEqual(log.root(), ref.root());
  }
  log.close();
  const again = ReceiptLog.open(path);
  assert.equal(again.size, 72);
  assert.deepEqual(again.root(), ref.root());
  for (let size = 0; size <= 72; size++)
    assert.deepEqual(again.rootAt(size), ref.root(size), `root at ${size}`);
  for (const [index, size] of [
    [0, 1],
    [5, 8],
    [40, 72],
    [71, 72],
    [63, 64],
    [64, 65],
  ] as const) {
    const p = again.inclusionProof(index, size);
    assert.deepEqual(p, inclusionProof(ref, index, size));
    assert.ok(verifyInclusion(leafHash(receipt(index)), p, ref.root(size)).ok);
  }
  for (const [from, to] of [
    [0, 72],
    [1, 72],
    [8, 72],
    [33, 64],
    [64, 72],
    [72, 72],
    [70, 71],
  ] as const) {
    const p = again.consistencyProof(from, to);
    assert.deepEqual(p, consistencyProof(ref, from, to));
    assert.ok(verifyConsistency(p, ref.root(from), ref.root(to)).ok);
  }
  assert.throws(() => again.inclusionProof(72, 72), { code: 'PROOF_RANGE_INVALID' });
  assert.throws(() => again.inclusionProof(3, 73), { code: 'PROOF_RANGE_INVALID' });
  assert.throws(() => again.consistencyProof(10, 73), { code: 'PROOF_RANGE_INVALID' });
  assert.throws(() => again.consistencyProof(11, 10), { code: 'PROOF_RANGE_INVALID' });
  again.close();
});

test('checkpoints are signed C2SP notes over committed leaves, stored once, audited', async () => {
  const log = ReceiptLog.open(join(dir, 'b.db'));
  const empty = await log.checkpoint(origin, signer);
  assert.equal(empty.size, 0);
  log.append([receipt(0), receipt(1), receipt(2)]);
  const a = await log.checkpoint(origin, signer);
  const same = await log.checkpoint(origin, [signer]);
  assert.equal(same.seq, a.seq, 'the same note is stored once');
  log.append([receipt(3)]);
  const b = await log.checkpoint(origin, signer);
  assert.deepEqual(
    log.checkpoints().map((c) => c.size),
    [0, 3, 4],
  );
  for (const cp of [empty, a, b]) {
    const r = openCheckpoint(cp.note, [verifier], origin);
    assert.ok(r.ok);
    assert.equal(r.checkpoint.size, cp.size);
    assert.deepEqual(r.checkpoint.root, log.rootAt(cp.size));
  }
  assert.deepEqual(log.latestCheckpoint(), b);
  // Extension lines (the telemetry head) are read at signing and signed with the note; the same
  // size with another line is another checkpoint, kept too.
  const line = 'tmb-telemetry 2 AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=';
  const c = await log.checkpoint(origin, signer, () => [line]);
  const r = openCheckpoint(c.note, [verifier], origin);
  assert.ok(r.ok);
  assert.deepEqual(r.checkpoint.extensions, [line]);
  assert.equal(c.size, b.size);
  assert.notEqual(c.seq, b.seq);
  assert.deepEqual(log.latestCheckpoint(), c);
  assert.ok(log.audit().ok);
  log.close();
});

test('concurrent checkpoints with a slow async signer are stored in size order', async () => {
  const log = ReceiptLog.open(join(dir, 'f.db'));
  const slow = {
    ...signer,
    sign: async (text: Uint8Array) => {
      await new Promise((r) => setTimeout(r, 50));
      return signer.sign(text);
    },
  };
  log.append([receipt(0)]);
  const first = log.checkpoint(origin, slow);
  await new Promise((r) => setImmediate(r)); // the first one has taken its size and is signing
  log.append([receipt(1)]);
  const second = log.checkpoint(origin, signer);
  const [a, b] = await Promise.all([first, second]);
  assert.deepEqual([a.seq, a.size, b.seq, b.size], [1, 1, 2, 2]);
  assert.deepEqual(
    log.checkpoints().map((c) => c.size),
    [1, 2],
  );
  log.close();
});

test('a failed batch commits nothing; firstIndex guards the index', () => {
  const log = ReceiptLog.open(join(dir, 'c.db'));
  log.append([receipt(0)]);
  const root = log.root();
  assert.throws(() => log.appendLeafHashes([leafHash(receipt(1)), new Uint8Array(31)]), TypeError);
  const db = new DatabaseSync(join(dir, 'c.db'));
  // A duplicate primary key inside the batch makes SQLite fail mid-transaction.
  db.prepare('INSERT INTO log_nodes (run, level, idx, hash) VALUES (0, 0, 2, ?)').run(new Uint8Array(32));
  db.close();
  assert.throws(() => log.append([receipt(1), receipt(2)]), { code: 'AGENT_STORE_FAILED' });
  assert.equal(log.size, 1);
  assert.throws(
    () => log.append([receipt(1)], 2),
    { code: 'AGENT_STORE_FAILED' },
    'the first seq must be the next seq',
  );
  assert.equal(log.size, 1);
  assert.deepEqual(log.root(), root);
  log.close();
});

test('reopening a log whose tree no longer matches its latest checkpoint is refused', async () => {
  for (const [i, tamper] of [
    'UPDATE log_nodes SET hash = zeroblob(32) WHERE level = 2 AND idx = 0',
    'UPDATE log_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 4',
    'DELETE FROM log_nodes WHERE level = 0 AND idx = 4',
  ].entries()) {
    const path = join(dir, `d-${i}.db`);
    const log = ReceiptLog.open(path);
    log.append([0, 1, 2, 3, 4].map(receipt));
    await log.checkpoint(origin, signer);
    log.close();
    const db = new DatabaseSync(path);
    db.exec(tamper);
    db.close();
    assert.throws(() => ReceiptLog.open(path), { code: 'CHECKPOINT_ROOT_MISMATCH' }, tamper);
  }
});

test('a deep audit finds a changed leaf under intact cached nodes', async () => {
  const path = join(dir, 'e.db');
  const log = ReceiptLog.open(path);
  log.append([0, 1, 2, 3, 4].map(receipt));
  await log.checkpoint(origin, signer);
  assert.ok(log.audit(true).ok);
  log.close();
  const db = new DatabaseSync(path);
  db.exec('UPDATE log_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 2');
  db.close();
  const again = ReceiptLog.open(path);
  assert.ok(again.audit().ok, 'the cached nodes still match the checkpoint');
  const deep = again.audit(true);
  assert.equal(deep.ok ? 'ok' : deep.code, 'CHECKPOINT_ROOT_MISMATCH');
  again.close();
});

test('a log can live in a database the caller owns', async () => {
  const db = new DatabaseSync(':memory:');
  const log = ReceiptLog.open(db);
  log.append([receipt(0), receipt(1)]);
  log.close();
  const again = ReceiptLog.open(db);
  assert.equal(again.size, 2);
  db.close();
});
