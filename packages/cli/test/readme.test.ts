// README's "Running the parts yourself", step by step, as separate `tmb` processes on a
// development machine: an swtpm from `tmb tpm swtpm`, the verifier, the sample server, the agent
// in front of it, one request, and `tmb verify` on its receipt.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../../test/fixtures/cleanup.ts';
import { type Tmb, tmb } from './proc.ts';

const START_MS = 90_000; // swtpm manufacturing and the agent's start on a loaded 2-core machine

test("README's Running the parts yourself works as written (swtpm, verifier, sample server, agent, request, tmb verify)", async (t) => {
  // Every process stops, last started first, even when one stop fails; then the folder goes
  // (test/fixtures/cleanup.ts).
  const { dir, closers: c } = await tempDir(t, 'tmb-readme-');
  const running: Tmb[] = []; // for the orderly stop at the end (stop() is idempotent)
  const start = (args: string[], env?: Record<string, string>) => {
    const p = tmb(args, env);
    running.push(p);
    c.add(() => p.stop(), `tmb ${args[0]}`);
    return p;
  };
  const file = (name: string) => join(dir, name);

  // The TPM: tmb tpm swtpm prints the --tpm value and the EK CA folders.
  const tpm = await start(['tpm', 'swtpm', '--state', file('swtpm')]).ready<{
    tcti: string;
    ekRoots: string;
  }>(START_MS);

  // The stand-in weights, the registry naming them, the verifier's tokens.
  const weights = new TextEncoder().encode('stand-in weights for sample-7b');
  await writeFile(file('model.gguf'), weights);
  const digest = `sha256:${createHash('sha256').update(weights).digest('hex')}`;
  await writeFile(
    file('registry.json'),
    JSON.stringify({ version: 1, models: { 'sample-7b': { weights: [digest] } } }),
  );
  const token = 'readme-agent-token-0123456789';
  await writeFile(file('tokens.txt'), `${token} gpu-01\n`);

  const verifier = await start([
    ...['verifier', '--port', '0', '--db', file('verifier.db'), '--tokens-file', file('tokens.txt')],
    ...['--registry', file('registry.json'), '--ek-roots', tpm.ekRoots],
  ]).ready<{ listening: string }>(START_MS);

  const sample = await start([
    ...['sample-server', '--model', 'sample-7b', '--weights', file('model.gguf'), '--port', '0'],
  ]).ready<{ listening: string; weights: string }>(START_MS);
  assert.equal(sample.weights, digest);

  const agent = await start(
    [
      ...['agent', '--upstream', sample.listening, '--name', 'gpu-01', '--port', '0'],
      ...['--verifier', verifier.listening, '--weights', file('model.gguf'), '--tpm', tpm.tcti],
      ...['--data-dir', file('agent')],
    ],
    { TMB_AGENT_TOKEN: token },
  ).ready<{ listening: string }>(START_MS);

  // A request through the agent; its receipt id comes back in a header.
  const r = await fetch(`${agent.listening}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'sample-7b', messages: [{ role: 'user', content: 'hello' }] }),
    signal: AbortSignal.timeout(30_000),
  });
  assert.equal(r.status, 200);
  await r.arrayBuffer();
  const id = r.headers.get('tmb-receipt-id');
  assert.match(id ?? '', /^[0-9a-f]{32}$/);

  // The verifier's result key, fetched once and pinned (GET /v1/verifier-key).
  const key = await fetch(`${verifier.listening}/v1/verifier-key`, { signal: AbortSignal.timeout(10_000) });
  assert.equal(key.status, 200);
  await writeFile(file('verifier-key.json'), await key.text());

  // tmb verify as a client would run it: until a quote covers the receipt (the agent quotes
  // within its checkpoint interval) it checks the verifier's signed result; then the bundle.
  type Out = {
    receiptId: string;
    source: string;
    level: string;
    ok: boolean;
    checks: { name: string; status: string; code?: string }[];
  };
  const verifyOnce = async () => {
    const v = start([
      ...['verify', id!, '--verifier', verifier.listening, '--verifier-key', file('verifier-key.json')],
      ...['--ek-roots', tpm.ekRoots, '--wait', '30000', '--json'],
    ]);
    const status = await v.exited(START_MS);
    return { status, out: JSON.parse(v.out()) as Out, err: v.err() };
  };
  let v = await verifyOnce();
  for (let i = 0; i < 30 && v.out.source !== 'bundle'; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    v = await verifyOnce();
  }
  const status = (name: string) => v.out.checks.find((c) => c.name === name)?.status;
  const failed = v.out.checks.filter((c) => c.status === 'fail').map((c) => c.code ?? c.name);
  const all = JSON.stringify(v.out.checks.map((c) => `${c.name} ${c.status} ${c.code ?? ''}`));
  assert.equal(v.out.receiptId, id);
  assert.equal(v.out.source, 'bundle', all);
  // Everything the parts prove without a kernel IMA log passes: the receipt, its log and the
  // TPM quote over it, on an EK that chains to the swtpm's CA.
  for (const name of ['receipt.signature', 'host.ek_certificate', 'quote.signature', 'receipt.included'])
    assert.equal(status(name), 'pass', `${name}: ${all}`);
  // A development machine has no kernel IMA log or measured boot (README, docs/deploy.md): the
  // host is not attested, the level stays L0 and tmb verify exits 1, naming why.
  assert.ok(failed.includes('KERNEL_LOG_ABSENT'), all);
  assert.equal(v.out.level, 'L0', all);
  assert.equal(v.out.ok, false);
  assert.equal(v.status, 1, v.err);

  // Each part stops cleanly on SIGTERM (agent first, as an operator would).
  for (const p of running.splice(0).reverse()) {
    if (p.child.spawnargs[2] === 'verify') continue;
    await p.stop();
    assert.equal(await p.exited(1000), 0, `tmb ${p.child.spawnargs.slice(2, 4).join(' ')}: ${p.err()}`);
  }
});
