import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/main.ts';
import type { Io } from '../../src/registry.ts';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const io: Io & { out: string; err: string } = {
    out: '',
    err: '',
    stdout: (t) => {
      io.out += t;
    },
    stderr: (t) => {
      io.err += t;
    },
    stdin: async () => new Uint8Array(0),
  };
  const code = await main(argv, io);
  return { code, out: io.out, err: io.err };
}

const KEY_FLAGS = ['--model-digest', 'sha256:aa', '--gpu-model', 'NVIDIA H100 80GB HBM3', '--engine', 'vllm'];
const MORE = ['--engine-version', '0.6.3', '--power-limit', '700'];

test('profile keygen, generate, fit, show and eval end to end', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-profile-'));
  try {
    const f = (n: string) => join(dir, n);
    assert.equal((await run(['profile', 'keygen', '--out', f('k.pem')])).code, 0);
    const gen = async (name: string, seed: number, n: number, factor = '1') => {
      const r = await run([
        'profile',
        'generate',
        '--seed',
        String(seed),
        '--requests',
        String(n),
        '--factor',
        factor,
      ]);
      assert.equal(r.code, 0);
      await writeFile(f(name), r.out);
    };
    await gen('cal', 1, 300);
    await gen('held', 2, 500);
    await gen('honest', 3, 300);
    await gen('subcal', 4, 300, '1.5');
    await gen('sub', 5, 300, '1.5');
    const fit = await run([
      'profile',
      'fit',
      '--features',
      f('cal'),
      '--held-out',
      f('held'),
      '--fpr',
      '0.01',
      '--key',
      f('k.pem'),
      ...KEY_FLAGS,
      ...MORE,
      '--out',
      f('p.json'),
    ]);
    assert.equal(fit.code, 0, fit.err);
    const subFit = await run([
      'profile',
      'fit',
      '--features',
      f('subcal'),
      '--key',
      f('k.pem'),
      ...KEY_FLAGS,
      ...MORE,
      '--out',
      f('s.json'),
    ]);
    assert.equal(subFit.code, 0, subFit.err);

    const shown = await run(['profile', 'show', f('p.json')]);
    assert.equal(shown.code, 0);
    assert.match(shown.out, /^signature ok\n/);
    assert.match(shown.out, /at FPR 0.01 \(500 held-out requests\)/);

    const ev = await run([
      'profile',
      'eval',
      '--profile',
      f('p.json'),
      '--substitute-profile',
      f('s.json'),
      '--honest',
      f('honest'),
      '--substitute',
      f('sub'),
      '--svg',
      f('d.svg'),
      '--json',
    ]);
    assert.equal(ev.code, 0, ev.err);
    const r = JSON.parse(ev.out);
    assert.ok(r.rocAuc > 0.9 && r.rocAuc <= 1);
    assert.ok(r.tprAtFpr1pct >= r.tprAtFpr01pct);
    assert.ok(r.sprt.substitute.meanRequestsToDecision < 10);
    assert.ok(r.sprt.substitute.flaggedFraction > 0.9);
    assert.equal(r.sprt.honest.flaggedFraction, 0);
    const svg = await readFile(f('d.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal((svg.match(/<polyline/g) ?? []).length, 6, 'claimed and substitute density in three panels');

    // A changed parameter breaks the signature; another signer is refused when a key is trusted.
    const signed = JSON.parse(await readFile(f('p.json'), 'utf8'));
    signed.profile.features.energyPerToken.mu += 0.01;
    await writeFile(f('bad.json'), JSON.stringify(signed));
    const bad = await run(['profile', 'show', f('bad.json')]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /signature does not verify/);
    const other = await run(['profile', 'show', f('p.json'), '--trusted-key', 'AAAA']);
    assert.equal(other.code, 1);
    await writeFile(f('junk.json'), '{"profile": {"v": 2}}');
    assert.match((await run(['profile', 'show', f('junk.json')])).err, /PROFILE_MALFORMED/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('profile usage errors', async () => {
  assert.equal((await run(['profile', 'fit'])).code, 2);
  assert.equal((await run(['profile', 'nope'])).code, 2);
  assert.equal((await run(['profile', 'show'])).code, 2);
  assert.equal((await run(['profile', 'generate', '--factor', '-1'])).code, 2);
});
