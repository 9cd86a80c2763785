import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import fc from 'fast-check';
import { call, enrolBody, newKey, receiptBody, signBody, type TestKey, TOKEN } from '../fixtures.ts';

// Tampering with a stored receipt at rest: the verdict is recomputed from the stored bytes on
// every read, so any changed byte must show as a named failed check, never as a crash or a pass.

let dir: string;
let v: RunningVerifier;
let k: TestKey;
let db: DatabaseSync;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-verifier-'));
  v = await startVerifier({ dbPath: join(dir, 'v.db'), tokens: [{ token: TOKEN, agent: 'gpu-1' }] });
  k = newKey('gpu-1');
  assert.equal((await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k))).status, 200);
  db = new DatabaseSync(join(dir, 'v.db'));
});
after(async () => {
  db.close();
  await v.close();
  await rm(dir, { recursive: true });
});

async function stored(): Promise<{ id: string; bytes: Uint8Array }> {
  const body = receiptBody(k);
  const r = await call(`${v.url}/v1/receipts`, 'POST', { agent: 'gpu-1', receipts: [signBody(k, body)] });
  assert.equal(r.json.accepted, 1);
  const row = db.prepare('SELECT body FROM receipts WHERE id = ?').get(body.id) as { body: Uint8Array };
  return { id: body.id, bytes: new Uint8Array(row.body) };
}

type Verdict = { ok: boolean; level: string; checks: { name: string; status: string; code?: string }[] };

async function verdictOf(id: string): Promise<Verdict> {
  const r = await call(`${v.url}/v1/receipts/${id}`, 'GET');
  assert.equal(r.status, 200);
  return r.json.verdict as Verdict;
}

test('a flipped bit inside a string of the stored body fails receipt.signature', async () => {
  const { id, bytes } = await stored();
  // The model name "m" -> "l": still canonical JSON, so only the signature can catch it.
  const at = Buffer.from(bytes).indexOf('"requested":"m"') + '"requested":"'.length;
  bytes[at] = 'l'.charCodeAt(0);
  db.prepare('UPDATE receipts SET body = ? WHERE id = ?').run(bytes, id);
  const verdict = await verdictOf(id);
  assert.equal(verdict.ok, false);
  assert.equal(verdict.level, 'none');
  const sig = verdict.checks.find((c) => c.name === 'receipt.signature');
  assert.deepEqual([sig?.status, sig?.code], ['fail', 'RECEIPT_SIGNATURE_INVALID']);
});

test('a tampered stored signature fails receipt.signature', async () => {
  const { id } = await stored();
  const row = db.prepare('SELECT sig FROM receipts WHERE id = ?').get(id) as { sig: Uint8Array };
  const sig = new Uint8Array(row.sig);
  sig[10]! ^= 1;
  db.prepare('UPDATE receipts SET sig = ? WHERE id = ?').run(sig, id);
  const c = (await verdictOf(id)).checks.find((x) => x.name === 'receipt.signature');
  assert.equal(c?.code, 'RECEIPT_SIGNATURE_INVALID');
});

test('a tamper that breaks the JSON fails receipt.format with its code', async () => {
  const { id, bytes } = await stored();
  const broken = bytes.slice();
  broken[0] = ' '.charCodeAt(0);
  db.prepare('UPDATE receipts SET body = ? WHERE id = ?').run(broken, id);
  const verdict = await verdictOf(id);
  const c = verdict.checks.find((x) => x.name === 'receipt.format');
  assert.deepEqual([c?.status, c?.code], ['fail', 'RECEIPT_MALFORMED']);
  assert.equal(verdict.level, 'none');
});

test('any single changed byte of a stored body gives a failed verdict naming a format or signature code', async () => {
  const { id, bytes } = await stored();
  await fc.assert(
    fc.asyncProperty(fc.nat(bytes.length - 1), fc.integer({ min: 1, max: 255 }), async (at, x) => {
      const changed = bytes.slice();
      changed[at]! ^= x;
      db.prepare('UPDATE receipts SET body = ? WHERE id = ?').run(changed, id);
      const verdict = await verdictOf(id);
      assert.equal(verdict.ok, false);
      assert.equal(verdict.level, 'none');
      const codes = verdict.checks.filter((c) => c.status === 'fail').map((c) => c.code);
      assert.ok(
        codes.some((c) =>
          [
            'RECEIPT_SIGNATURE_INVALID',
            'RECEIPT_MALFORMED',
            'RECEIPT_NOT_CANONICAL',
            'RECEIPT_VERSION_UNSUPPORTED',
          ].includes(c ?? ''),
        ),
        `byte ${at} ^ ${x}: ${codes.join(', ')}`,
      );
    }),
    { numRuns: 60 },
  );
});
