// The rules every `tmb` command keeps (docs/cli.md): --help anywhere, --json errors, a quiet
// stop when the reader of its output goes away.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../src/main.ts';
import { COMMANDS } from '../src/registry.ts';
import { capture } from './io.ts';
import { tmb } from './proc.ts';

/** The subcommands a command's usage documents: `tmb NAME SUB` usage lines, `  SUB ...` entries. */
function documented(name: string, help: string): string[] {
  const subs = new Set<string>();
  for (const m of help.matchAll(new RegExp(`tmb ${name} ([a-z][a-z-]*)`, 'g'))) subs.add(m[1]!);
  for (const m of help.matchAll(/^ {2}([a-z][a-z-]*)(?= |$)/gm)) subs.add(m[1]!);
  return [...subs];
}

/** Every command, and every subcommand its usage documents, as argv prefixes. */
async function everyCommand(): Promise<string[][]> {
  const all: string[][] = [];
  for (const name of Object.keys(COMMANDS)) {
    const io = capture();
    assert.equal(await main([name, '--help'], io), 0, `tmb ${name} --help: ${io.err}`);
    all.push([name], ...documented(name, io.out).map((sub) => [name, sub]));
  }
  return all;
}

test('--help and -h print usage and exit 0 on every command and documented subcommand, wherever they stand', async () => {
  const commands = await everyCommand();
  // The subcommands documented today (a new one is walked too, from its usage text).
  for (const known of ['tpm checkquote', 'tpm swtpm', 'policy create', 'policy diff', 'verifier allow-ak'])
    assert.ok(
      commands.some((c) => c.join(' ') === known),
      known,
    );
  for (const argv of commands) {
    for (const help of [
      [...argv, '--help'],
      [...argv, '-h'],
      [...argv, '--no-such-flag', 'x', '--help'],
    ]) {
      const io = capture();
      assert.equal(await main(help, io), 0, `tmb ${help.join(' ')}: ${io.err}`);
      assert.match(io.out, new RegExp(`usage: tmb ${argv[0]}`), help.join(' '));
      assert.equal(io.err, '', help.join(' '));
    }
  }
  // After `--`, a -h is data, not a request for help.
  const io = capture();
  assert.equal(await main(['boot', 'replay', '--', '-h'], io), 2);
});

test('--json: a usage error on every command and subcommand is one {"error": {code, message}} line on stdout, exit 2', async () => {
  for (const argv of await everyCommand()) {
    const io = capture();
    const status = await main([...argv, '--json', '--no-such-flag'], io);
    const what = `tmb ${argv.join(' ')} --json --no-such-flag`;
    assert.equal(status, 2, `${what}: ${io.out}${io.err}`);
    const lines = io.out.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, what);
    const out = JSON.parse(lines[0]!) as { error: { code: string; message: string } };
    assert.deepEqual(Object.keys(out), ['error']);
    assert.equal(out.error.code, 'CLI_USAGE', what);
    assert.ok(out.error.message.length > 0, what);
  }
  const unknown = capture();
  assert.equal(await main(['frobnicate', '--json'], unknown), 2);
  assert.equal(JSON.parse(unknown.out).error.code, 'CLI_USAGE');
  // Without --json, usage errors stay prose on stderr.
  const prose = capture();
  assert.equal(await main(['stats', 'fit', '--no-such-flag'], prose), 2);
  assert.equal(prose.out, '');
  assert.match(prose.err, /^tmb stats: Unknown option '--no-such-flag'/);
});

test('--json: failures keep their exit status and their package code (stats, boot, ima, a missing file, a missing command)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-cli-rules-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const junk = join(dir, 'junk.bin');
  await writeFile(junk, 'not a log at all\n');
  const error = async (argv: string[], stdin = '') => {
    const io = capture(stdin);
    const status = await main(argv, io);
    const lines = io.out.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, `${argv.join(' ')}: ${io.out}`);
    return { status, ...(JSON.parse(lines[0]!) as { error: { code: string; message: string } }).error };
  };
  const fit = await error(['stats', 'fit', '--dist', 'beta', '--json'], '0.5\n');
  assert.deepEqual([fit.status, fit.code], [1, 'STATS_TOO_FEW_SAMPLES']);
  const boot = await error(['boot', 'replay', junk, '--json']);
  assert.equal(boot.status, 1);
  assert.match(boot.code, /^[A-Z][A-Z0-9_]+$/);
  assert.notEqual(boot.code, 'CLI_FAILED');
  const ima = await error(['ima', 'replay', junk, '--json']);
  assert.equal(ima.status, 1);
  assert.match(ima.code, /^IMA_/);
  const missing = await error([
    'sample-server',
    '--model',
    'm',
    '--weights',
    join(dir, 'nope.gguf'),
    '--json',
  ]);
  assert.deepEqual([missing.status, missing.code], [1, 'CLI_IO_FAILED']);
  assert.match(missing.message, /ENOENT/);
  const usage = await error(['boot', 'replay', join(dir, 'nope.bin'), '--json']);
  assert.deepEqual([usage.status, usage.code], [2, 'CLI_USAGE']);
});

test('--json is accepted where the output is JSON anyway (profile generate) and changes nothing', async () => {
  const plain = capture();
  const json = capture();
  assert.equal(await main(['profile', 'generate', '--requests', '3', '--seed', '7'], plain), 0);
  assert.equal(await main(['profile', 'generate', '--json', '--requests', '3', '--seed', '7'], json), 0);
  assert.equal(json.out, plain.out);
  assert.equal(plain.out.trim().split('\n').length, 3);
  for (const line of json.out.trim().split('\n')) JSON.parse(line);
});

test('output piped to a reader that stops early (tmb ... | head -1): no EPIPE stack trace, exit 0', async () => {
  const p = tmb(['profile', 'generate', '--requests', '3000']);
  // The first line, then the reader goes away, as head -1 does.
  await new Promise<void>((resolve) => {
    const on = () => {
      if (!p.out().includes('\n')) return;
      p.child.stdout.off('data', on);
      p.child.stdout.destroy();
      resolve();
    };
    p.child.stdout.on('data', on);
  });
  const status = await p.exited(60_000);
  assert.doesNotMatch(p.err(), /EPIPE|Error|at /);
  assert.equal(status, 0, p.err());
});
