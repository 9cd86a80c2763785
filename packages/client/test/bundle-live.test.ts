import assert from 'node:assert/strict';
import { test } from 'node:test';
import { verifyBundle } from '../src/index.ts';
import { honest, makeBundles } from './vectors/bundle/make.ts';

// The verifier's GET /v1/receipts/:id/bundle on a real swtpm run, checked offline by
// verifyBundle: the verifier's verdict and the bundle's agree, failures included.

test('bundles of a real run: 404 until a quote covers the receipt, then L1 offline', async () => {
  let early: { status: number; code: unknown } | undefined;
  const run = await makeBundles(async (_host, url, ids) => {
    // Receipts #3 and #4 are not covered yet: the second quote comes after this.
    const r = await fetch(`${url}/v1/receipts/${ids[3]}/bundle`);
    early = { status: r.status, code: ((await r.json()) as { error?: { code?: string } }).error?.code };
  });
  assert.equal(early?.status, 404);
  assert.equal(early?.code, 'BUNDLE_NOT_READY');
  assert.equal(run.bundles.length, 5);
  // The archive is in the store: a restarted verifier serves the same evidence (its new result
  // key signs a new EAR).
  const evidence = (x: unknown[]) => x.map((b) => (b as { evidence: unknown }).evidence);
  assert.deepEqual(evidence(run.reopened), evidence(run.bundles));
  for (const b of run.bundles) {
    const r = await verifyBundle(b, { verifierKey: run.verifierKey, ekRoots: run.ekRoots });
    assert.equal(r.level, 'L1', JSON.stringify(r.checks.filter((c) => c.status !== 'pass')));
    assert.equal(r.ok, true);
  }
});

test('a file outside the policy measured between quotes fails host.integrity offline, as at the verifier', async () => {
  const run = await makeBundles(async (host) => {
    await host.file('/tmp/evil', 'not in any policy');
  });
  const verdicts = await Promise.all(
    run.bundles.map((b) => verifyBundle(b, { verifierKey: run.verifierKey, ekRoots: run.ekRoots })),
  );
  // #0-#2 were judged by the first quote, before the file: L1. #3, #4 by the second: failed.
  assert.deepEqual(
    verdicts.map((r) => r.level),
    ['L1', 'L1', 'L1', 'L0', 'L0'],
  );
  const bad = verdicts[3]!.checks.find((c) => c.name === 'host.integrity')!;
  assert.equal(bad.status, 'fail');
  assert.equal(bad.code, 'IMA_FILE_NOT_IN_POLICY');
  assert.equal(verdicts[3]!.ok, false);
});

test('a reboot between quotes: the judging quote is of the new boot, its logs start at entry 0', async () => {
  const run = await makeBundles(async (host) => {
    await host.reboot();
    await honest(host);
  });
  for (const b of run.bundles) {
    const r = await verifyBundle(b, { verifierKey: run.verifierKey, ekRoots: run.ekRoots });
    assert.equal(r.level, 'L1', JSON.stringify(r.checks.filter((c) => c.status !== 'pass')));
  }
  // #3 and #4 were served before the reboot and covered only after it: the new boot's logs.
  const [first, late] = [run.bundles[0], run.bundles[3]] as { evidence: { quote: { attest: string } } }[];
  assert.notEqual(first!.evidence.quote.attest, late!.evidence.quote.attest);
});

test("the agent's upstream, quoted with the checkpoint, is judged offline as at the verifier", async () => {
  const local = (files: string[]) => ({
    kind: 'local',
    processes: [{ pid: 4242, exe: '/usr/bin/llama-server', files }],
  });
  const held = await makeBundles(undefined, local(['/models/big.gguf']));
  const relay = await makeBundles(undefined, local(['/usr/lib/libc.so.6']));
  const upstream = async (run: Awaited<ReturnType<typeof makeBundles>>) => {
    const r = await verifyBundle(run.bundles[3], { verifierKey: run.verifierKey, ekRoots: run.ekRoots });
    return [r.level, r.checks.find((c) => c.name === 'host.upstream')] as const;
  };
  const [okLevel, ok] = await upstream(held);
  assert.equal(ok?.status, 'pass', ok?.detail);
  assert.equal(okLevel, 'L1');
  const [badLevel, bad] = await upstream(relay);
  assert.deepEqual([bad?.status, bad?.code], ['fail', 'UPSTREAM_WEIGHTS_NOT_MEASURED']);
  assert.equal(badLevel, 'L0');
});
