import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { type RunningVerifier, startVerifier } from '@tmb/verifier';
import { call, enrolBody, newKey, receiptBody, signBody, TOKEN } from '../../../verifier/test/fixtures.ts';
import { main, type VerifyOutput } from '../../src/commands/verify.ts';
import { capture as io } from '../io.ts';

// `tmb verify` is @tmb/client's verifyBundle (a bundle file, or the verifier's bundle of a
// receipt) and, before a quote covers a receipt, the client's check of the signed result.

const VECTORS = new URL('../../../client/test/vectors/bundle/', import.meta.url);

let dir: string;
let v: RunningVerifier;
let goodId: string;
let tamperedId: string;
let keyFile: string;
let rootsDir: string;
let bundleFile: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-cli-verify-'));
  v = await startVerifier({ dbPath: join(dir, 'v.db'), tokens: [{ token: TOKEN, agent: 'gpu-1' }] });
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
  keyFile = join(dir, 'verifier-key.json');
  await writeFile(keyFile, JSON.stringify(await (await fetch(`${v.url}/v1/verifier-key`)).json()));
  rootsDir = join(dir, 'roots');
  await import('node:fs/promises').then((fs) => fs.mkdir(rootsDir));
  await copyFile(new URL('ek-roots.pem', VECTORS), join(rootsDir, 'swtpm.pem'));
  bundleFile = join(dir, 'bundle.json');
  await copyFile(new URL('bundle.json', VECTORS), bundleFile);
});
after(async () => {
  await v.close();
  await rm(dir, { recursive: true });
});

const vectorKey = () => join(dir, 'vector-key.json');

test('--bundle FILE verifies the vector offline to L1 with the EK roots, L0 without them', async () => {
  await copyFile(new URL('verifier-key.json', VECTORS), vectorKey());
  const x = io();
  assert.equal(
    await main(['--bundle', bundleFile, '--verifier-key', vectorKey(), '--ek-roots', rootsDir], x),
    0,
  );
  assert.match(x.out, /checked from its evidence bundle/);
  assert.match(x.out, /^quote\.signature\s+pass\s+checked here/m);
  assert.match(x.out, /level L1 {3}OK/);
  const j = io();
  assert.equal(await main(['--bundle', bundleFile, '--verifier-key', vectorKey(), '--json'], j), 0);
  const out = JSON.parse(j.out) as VerifyOutput;
  assert.equal(out.source, 'bundle');
  assert.equal(out.level, 'L0');
  assert.equal(out.checks.find((c) => c.name === 'host.ek_certificate')?.status, 'asserted');
});

test('--bundle with a batch prints one result per receipt', async () => {
  const batch = join(dir, 'batch.json');
  await copyFile(new URL('batch.json', VECTORS), batch);
  const x = io();
  assert.equal(
    await main(['--bundle', batch, '--verifier-key', vectorKey(), '--ek-roots', rootsDir, '--json'], x),
    0,
  );
  const out = JSON.parse(x.out) as { results: VerifyOutput[] };
  assert.deepEqual(
    out.results.map((r) => [r.level, r.ok]),
    [
      ['L1', true],
      ['L1', true],
    ],
  );
});

test('--bundle: one changed byte exits 1 naming the failed check; no key is level none', async () => {
  const b = JSON.parse(await readFile(bundleFile, 'utf8')) as { evidence: { quote: { nonce: string } } };
  b.evidence.quote.nonce = b.evidence.quote.nonce.replace(/^./, (c) => (c === '0' ? '1' : '0'));
  const flipped = join(dir, 'flipped.json');
  await writeFile(flipped, JSON.stringify(b));
  const x = io();
  assert.equal(
    await main(['--bundle', flipped, '--verifier-key', vectorKey(), '--ek-roots', rootsDir], x),
    1,
  );
  assert.match(x.out, /verifier\.evidence\s+fail\s+RESULT_INVALID/);
  assert.match(x.out, /NOT OK/);
  const n = io();
  assert.equal(await main(['--bundle', bundleFile], n), 1);
  assert.match(n.out, /VERIFIER_NOT_CONFIGURED/);
  assert.match(n.out, /level none {3}NOT OK/);
});

test('a receipt id: the verifier bundle is fetched, verified here and can be saved', async () => {
  const bundle = await readFile(bundleFile, 'utf8');
  const { receipt } = (JSON.parse(bundle) as { evidence: { receipt: { body: string } } }).evidence;
  const id = (JSON.parse(Buffer.from(receipt.body, 'base64url').toString()) as { id: string }).id;
  const other = '6'.repeat(32);
  const server: Server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(
      req.url === `/v1/receipts/${id}/bundle` || req.url === `/v1/receipts/${other}/bundle` ? bundle : '{}',
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const saved = join(dir, 'saved.json');
    const x = io();
    const args = [
      id,
      '--verifier',
      url,
      '--verifier-key',
      vectorKey(),
      '--ek-roots',
      rootsDir,
      '--save',
      saved,
    ];
    assert.equal(await main(args, x), 0);
    assert.match(x.out, /level L1 {3}OK/);
    assert.deepEqual(JSON.parse(await readFile(saved, 'utf8')), JSON.parse(bundle));
    // Another receipt's bundle, answered for the id asked, is refused.
    const y = io();
    assert.equal(
      await main([other, '--verifier', url, '--verifier-key', vectorKey(), '--ek-roots', rootsDir], y),
      1,
    );
    assert.match(y.out, /receipt\.id\s+fail\s+RECEIPT_ID_MISMATCH/);
  } finally {
    server.close();
  }
});

test('a receipt no quote covers: the signed result and the receipt, level L0, exit 0', async () => {
  const x = io();
  assert.equal(await main([goodId, '--verifier', v.url, '--verifier-key', keyFile], x), 0);
  assert.match(x.out, /checked from the verifier's signed result/);
  for (const name of [
    'verifier.result',
    'verifier.binding',
    'receipt.format',
    'receipt.signature',
    'agent.enrolled',
  ])
    assert.match(x.out, new RegExp(`^${name.replace('.', '\\.')}\\s+pass`, 'm'));
  assert.match(x.out, /level L0 {3}OK/);
  const n = io();
  assert.equal(await main([goodId, '--verifier', v.url], n), 1);
  assert.match(n.out, /VERIFIER_NOT_CONFIGURED/);
});

test('a tampered stored receipt exits 1 naming RECEIPT_SIGNATURE_INVALID', async () => {
  const x = io();
  assert.equal(await main([tamperedId, '--verifier', v.url, '--verifier-key', keyFile], x), 1);
  assert.match(x.out, /receipt\.signature\s+fail\s+RECEIPT_SIGNATURE_INVALID/);
  assert.match(x.out, /NOT OK/);
});

test('an unknown receipt exits 1 with RECEIPT_NOT_FOUND; bad usage exits via UsageError', async () => {
  const x = io();
  assert.equal(await main(['0'.repeat(32), '--verifier', v.url, '--verifier-key', keyFile], x), 1);
  assert.match(x.out, /RECEIPT_NOT_FOUND/);
  await assert.rejects(main(['nothex', '--verifier', v.url], io()), { name: 'UsageError' });
  await assert.rejects(main([goodId], { ...io() }), { name: 'UsageError' });
  await assert.rejects(main([goodId, '--bundle', bundleFile], io()), { name: 'UsageError' });
});
