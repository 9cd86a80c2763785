// Issue 11: "Nothing is installable. Every package is private with exports pointing at `.ts`
// files; Node refuses to strip types under `node_modules`, so `@tmb/client` cannot be used by
// another project." The build (scripts/build.ts) runs into this test's temporary folder, `npm pack`
// makes a tarball of every package, and a scratch project installs them with npm, offline, then
// uses client and core from plain JavaScript and from TypeScript, and runs the `tmb` command.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['core', 'stats', 'agent', 'verifier', 'client', 'cli', 'demo'] as const;
const run = promisify(execFile);

let tmp = '';
let scratch = '';

/** The environment without the npm_* variables a parent `npm test` sets (its prefix, its workspace). */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

interface LockEntry {
  dependencies?: Record<string, string>;
  [field: string]: unknown;
}

/**
 * The repository lock's entries for `names` and everything they depend on, as production
 * dependencies, with their tarball URLs. With them in the scratch project's lock npm needs no
 * registry metadata, only the tarballs `npm ci` left in its cache (found by integrity), so the
 * install works offline in CI (checked with a cache holding nothing but tarball contents).
 */
function lockEntries(lock: Record<string, LockEntry>, names: string[]): Record<string, LockEntry> {
  const out: Record<string, LockEntry> = {};
  const queue = [...names];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    const key = `node_modules/${name}`;
    if (out[key]) continue;
    const entry = lock[key];
    assert.ok(entry, `the repository's package-lock.json has ${key}`);
    const { dev: _d, devOptional: _o, peer: _p, ...kept } = entry;
    // The repository's lock leaves registry URLs out; without one npm would ask the registry
    // for the package's metadata to find the tarball.
    kept.resolved ??= `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${entry.version}.tgz`;
    out[key] = kept;
    queue.push(...Object.keys(entry.dependencies ?? {}));
  }
  return out;
}

/** Builds and packs every workspace package; writes the scratch project; installs the tarballs. */
async function install(): Promise<void> {
  const build = ['scripts/build.ts', '--out', join(tmp, 'dist'), '--pack', join(tmp, 'tgz')];
  const { stdout } = await run(process.execPath, build, { cwd: ROOT, env: cleanEnv(), maxBuffer: 1 << 24 });
  const deps: Record<string, string> = {};
  const thirdParty = new Set<string>();
  // One line per package: `@tmb/core: <dist folder> (N entries) -> <tarball>`.
  for (const [, name, dir, tarball] of stdout.matchAll(/^(@tmb\/[a-z]+): (\S+) .* -> (\S+)$/gm)) {
    const m = JSON.parse(await readFile(join(dir!, 'package.json'), 'utf8'));
    deps[name!] = `file:${tarball}`;
    for (const d of Object.keys(m.dependencies ?? {})) if (!d.startsWith('@tmb/')) thirdParty.add(d);
  }
  for (const p of PACKAGES) assert.ok(deps[`@tmb/${p}`], `the build packed @tmb/${p}:\n${stdout}`);
  const manifest = {
    name: 'tmb-scratch',
    version: '1.0.0',
    private: true,
    type: 'module',
    dependencies: deps,
  };
  const repoLock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8'));
  const lock = {
    name: manifest.name,
    version: manifest.version,
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: manifest.name, version: manifest.version },
      ...lockEntries(repoLock.packages, [...thirdParty]),
    },
  };
  await writeFile(join(scratch, 'package.json'), JSON.stringify(manifest, null, 2));
  await writeFile(join(scratch, 'package-lock.json'), JSON.stringify(lock, null, 2));
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund'], { cwd: scratch, env: cleanEnv() });
}

before(
  async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tmb-pack-'));
    scratch = join(tmp, 'scratch');
    await mkdir(scratch);
    await install();
  },
  { timeout: 300_000 },
);
after(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** Every leaf of an `exports` map, with the conditions that lead to it. */
function leaves(t: unknown, path: string[] = []): [string[], unknown][] {
  if (t === null || typeof t !== 'object') return [[path, t]];
  return Object.entries(t).flatMap(([k, v]) => leaves(v, [...path, k]));
}

test('each installed package is public, points at built JavaScript and declarations, ships no TypeScript source', {
  timeout: 300_000,
}, async () => {
  for (const p of PACKAGES) {
    const dir = join(scratch, 'node_modules', '@tmb', p);
    const m = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
    assert.equal(m.private, undefined, `${m.name} is not private`);
    assert.equal(m.devDependencies, undefined);
    const files = (await readdir(dir, { recursive: true })).map(String);
    assert.deepEqual(
      files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')),
      [],
      `${m.name}: no .ts`,
    );
    assert.deepEqual(
      files.filter((f) => /(^|\/)test\//.test(f)),
      [],
      `${m.name}: no tests`,
    );
    for (const [conds, target] of leaves(m.exports)) {
      if (conds.at(-1) === './package.json') continue;
      assert.match(String(target), conds.at(-1) === 'types' ? /\.d\.ts$/ : /\.js$/, `${m.name} ${conds}`);
      assert.ok(files.includes(String(target).slice(2)), `${m.name}: ${target} is in the package`);
    }
  }
  const client = JSON.parse(await readFile(join(scratch, 'node_modules/@tmb/client/package.json'), 'utf8'));
  // The client wraps fetch and never imports openai: a peer the user brings, not a dependency.
  assert.equal(client.dependencies.openai, undefined);
  assert.ok(client.peerDependencies.openai);
  assert.equal(client.peerDependenciesMeta.openai.optional, true);
});

const JS = `import { readFileSync } from 'node:fs';
import { verifyBundle } from '@tmb/client';
import { checkSignedReceipt, fromBase64Url } from '@tmb/core';

const [bundleDir, receiptFile] = process.argv.slice(2);
const read = (f) => readFileSync(bundleDir + '/' + f, 'utf8');
const bundle = JSON.parse(read('bundle.json'));
const opts = { verifierKey: JSON.parse(read('verifier-key.json')), ekRoots: [read('ek-roots.pem')] };
const good = await verifyBundle(structuredClone(bundle), opts);
const bad = structuredClone(bundle);
const sig = bad.evidence.receipt.sig;
bad.evidence.receipt.sig = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
const tampered = await verifyBundle(bad, opts);
const fails = (r) => r.checks.filter((c) => c.status === 'fail').map((c) => c.name);

const v = JSON.parse(readFileSync(receiptFile, 'utf8'));
const key = fromBase64Url(v.publicKey);
const receipts = v.vectors.map((x) => {
  const r = checkSignedReceipt({ body: x.body, sig: x.sig }, (id) => (id === v.keyId ? key : undefined));
  return { expect: x.expect, failed: r.checks.filter((c) => c.status === 'fail').map((c) => c.code) };
});
console.log(JSON.stringify({ good: [good.level, good.ok, fails(good)], tampered: [tampered.ok, fails(tampered)], receipts }));
`;

test('plain JavaScript imports @tmb/client and @tmb/core from node_modules and verifies real vectors', {
  timeout: 300_000,
}, async () => {
  await writeFile(join(scratch, 'index.mjs'), JS);
  const { stdout } = await run(
    process.execPath,
    [
      'index.mjs',
      join(ROOT, 'packages/client/test/vectors/bundle'),
      join(ROOT, 'packages/core/test/vectors/receipt/vectors.json'),
    ],
    { cwd: scratch },
  );
  const out = JSON.parse(stdout);
  assert.deepEqual(out.good, ['L1', true, []], 'the swtpm bundle vector verifies offline to L1');
  assert.equal(out.tampered[0], false);
  assert.ok(out.tampered[1].includes('receipt.signature'), JSON.stringify(out.tampered));
  assert.ok(out.receipts.length > 1);
  for (const r of out.receipts) assert.deepEqual(r.failed, r.expect === 'valid' ? [] : [r.expect]);
});

const TSCONFIG = {
  compilerOptions: {
    target: 'es2024',
    module: 'nodenext',
    moduleResolution: 'nodenext',
    // No DOM library: a Node project without it must be able to use the declarations.
    lib: ['es2024'],
    strict: true,
    noEmit: true,
    skipLibCheck: false,
    // A Node project has Node's types; take them from this repository rather than install them.
    typeRoots: [join(ROOT, 'node_modules/@types')],
    types: ['node'],
  },
};

const TS_OK = `import { type Bundle, type ClientCheck, type VerifierKey, verifyBundle } from '@tmb/client';
import { type Level, LEVELS } from '@tmb/core';

export async function level(b: Bundle, verifierKey: VerifierKey): Promise<Level> {
  const r = await verifyBundle(b, { verifierKey });
  const failed: ClientCheck[] = r.checks.filter((c) => c.status === 'fail');
  return failed.length === 0 && LEVELS.includes(r.level) ? r.level : 'none';
}
`;

test('TypeScript checks a file against the installed declarations, and a type error fails', {
  timeout: 300_000,
}, async () => {
  await writeFile(join(scratch, 'ok.ts'), TS_OK);
  // A level is a string: assigning one to a number must be refused.
  await writeFile(
    join(scratch, 'bad.ts'),
    "import { LEVELS } from '@tmb/core';\nexport const n: number = LEVELS[0];\n",
  );
  await writeFile(
    join(scratch, 'tsconfig.json'),
    JSON.stringify({ ...TSCONFIG, files: ['ok.ts', 'bad.ts'] }),
  );
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: scratch }).then(
    () => assert.fail('tsc accepted bad.ts'),
    (e: { code: number; stdout: string }) => e,
  );
  assert.equal(r.code, 2, r.stdout);
  // One error, in bad.ts: ok.ts and every installed declaration file check clean.
  const errors = r.stdout.split('\n').filter((l) => / error TS\d+/.test(l));
  assert.equal(errors.length, 1, r.stdout);
  assert.match(errors[0]!, /^bad\.ts\(2,14\): error TS2322: Type '[^']+' is not assignable to type 'number'/);
});

test('the installed tmb command verifies the bundle vector offline to L1', { timeout: 300_000 }, async () => {
  const vectors = join(ROOT, 'packages/client/test/vectors/bundle');
  const roots = join(tmp, 'roots');
  await mkdir(roots);
  await writeFile(join(roots, 'ek-roots.pem'), await readFile(join(vectors, 'ek-roots.pem')));
  const key = join(vectors, 'verifier-key.json');
  const args = [
    'verify',
    '--bundle',
    join(vectors, 'bundle.json'),
    '--verifier-key',
    key,
    '--ek-roots',
    roots,
  ];
  // Through the link npm made from the package's `bin`, as a user's shell runs it.
  const { stdout } = await run(process.execPath, ['node_modules/.bin/tmb', ...args, '--json'], {
    cwd: scratch,
  });
  const out = JSON.parse(stdout);
  assert.equal(out.level, 'L1', stdout);
  assert.equal(out.ok, true, stdout);
});
