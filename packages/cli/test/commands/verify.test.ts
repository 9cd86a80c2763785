import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { call, enrolBody, newKey, receiptBody, signBody, TOKEN } from '../../../verifier/test/fixtures.ts';
import { main, type VerifyOutput } from '../../src/commands/verify.ts';
import { capture as io } from '../io.ts';

let dir: string;
let v: RunningVerifier;
let goodId: string;
let tamperedId: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-cli-verify-'));
  v = await startVerifier({ dbPath: join(dir, 'v.db'), tokens: [{ token: TOKEN }] });
  const k = newKey('gpu-1');
  await call(`${v.url}/v1/agents/enroll`, 'POST', enrolBody(k));
  const good = receiptBody(k);
  const bad = receiptBody(k);
  await call(`${v.url}/v1/receipts`, 'POST', {
    agent: 'gpu-1',
    receipts: [signBody(k, good), signBody(k, bad)],
  });
  goodId = good.id;
  tamperedId = bad.id;
  const db = new DatabaseSync(join(dir, 'v.db'));
  const row = db.prepare('SELECT sig FROM receipts WHERE id = ?').get(bad.id) as { sig: Uint8Array };
  const sig = new Uint8Array(row.sig);
  sig[0]! ^= 0x80;
  db.prepare('UPDATE receipts SET sig = ? WHERE id = ?').run(sig, bad.id);
  db.close();
});
after(async () => {
  await v.close();
  await rm(dir, { recursive: true });
});

test('a good receipt prints a table with every check and level L0, exit 0', async () => {
  const x = io();
  assert.equal(await main([goodId, '--verifier', v.url], x), 0);
  for (const name of ['receipt.format', 'receipt.signature', 'agent.enrolled', 'receipt.id'])
    assert.match(x.out, new RegExp(`^${name.replace('.', '\\.')} `, 'm'));
  assert.match(x.out, /level L0 {3}OK/);
});

test('--json prints the verdict and the local checks', async () => {
  const x = io();
  assert.equal(await main([goodId, '--verifier', v.url, '--json'], x), 0);
  const out = JSON.parse(x.out) as VerifyOutput;
  assert.equal(out.ok, true);
  assert.equal(out.level, 'L0');
  assert.equal(out.verdict.receiptId, goodId);
  assert.deepEqual(
    out.local.map((c) => [c.name, c.status]),
    [
      ['receipt.format', 'pass'],
      ['receipt.signature', 'pass'],
      ['receipt.id', 'pass'],
    ],
  );
});

test('a tampered stored receipt exits 1 naming RECEIPT_SIGNATURE_INVALID', async () => {
  const x = io();
  assert.equal(await main([tamperedId, '--verifier', v.url], x), 1);
  assert.match(x.out, /receipt\.signature\s+verifier\s+fail\s+RECEIPT_SIGNATURE_INVALID/);
  assert.match(x.out, /level none {3}NOT OK/);
});

test('an unknown receipt exits 1 with RECEIPT_NOT_FOUND; bad usage exits via UsageError', async () => {
  const x = io();
  assert.equal(await main(['0'.repeat(32), '--verifier', v.url], x), 1);
  assert.match(x.err, /RECEIPT_NOT_FOUND/);
  await assert.rejects(main(['nothex', '--verifier', v.url], io()), { name: 'UsageError' });
  await assert.rejects(main([goodId], { ...io() }), { name: 'UsageError' });
});
