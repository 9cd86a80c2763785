// The import rules of docs/architecture.md, checked on the source: who may import whom, that every
// import is declared, that no relative import leaves its package, that browser-safe entries reach no
// node-only module, and that the verifier's verdict composition holds no HTTP.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Each workspace package: its folder and the @tmb packages its source may import. */
const PACKAGES: Record<string, { dir: string; may: string[] }> = {
  '@tmb/core': { dir: 'packages/core', may: [] },
  '@tmb/stats': { dir: 'packages/stats', may: ['@tmb/core'] },
  '@tmb/client': { dir: 'packages/client', may: ['@tmb/core'] },
  '@tmb/agent': { dir: 'packages/agent', may: ['@tmb/core', '@tmb/stats'] },
  '@tmb/verifier': { dir: 'packages/verifier', may: ['@tmb/core', '@tmb/stats'] },
  '@tmb/demo': { dir: 'demo', may: ['@tmb/core', '@tmb/stats', '@tmb/agent'] },
  '@tmb/cli': {
    dir: 'packages/cli',
    may: ['@tmb/core', '@tmb/stats', '@tmb/client', '@tmb/agent', '@tmb/verifier', '@tmb/demo'],
  },
};

/** Entries that must run in a browser: nothing they reach imports a node: module. */
export const BROWSER_SAFE = [
  '@tmb/core',
  '@tmb/core/log',
  '@tmb/core/tpm',
  '@tmb/core/ima',
  '@tmb/core/host',
  '@tmb/core/boot',
  '@tmb/core/registry',
  '@tmb/core/store',
  '@tmb/core/telemetry',
  '@tmb/core/profile',
  '@tmb/client',
];

/** Verifier folders that compose verdicts: no HTTP in them (docs/architecture.md). */
const NO_HTTP = ['packages/verifier/src/appraise'];
const HTTP_MODULES = new Set(['node:http', 'node:https', 'node:http2', 'node:net']);

interface Manifest {
  name: string;
  exports?: Record<string, unknown> | string;
  imports?: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

function manifest(dir: string): Manifest {
  return JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as Manifest;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

const SPEC =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;(])import\s*\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

/** The module specifiers one file imports (static, side-effect and literal dynamic imports). */
export function specifiers(source: string, runtimeOnly = false): string[] {
  // Comments may mention imports: drop block and line comments first (strings with // are rare in
  // import lines, and a false positive here only makes the rule stricter).
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const m of code.matchAll(SPEC)) {
    // `import type ... from` and `export type ... from` are erased before anything runs.
    if (runtimeOnly && /^[\s;]*(?:import|export)\s+type\s/.test(m[0])) continue;
    out.push((m[1] ?? m[2] ?? m[3]) as string);
  }
  return out;
}

/** The package name of a bare specifier: `@scope/name` or `name`. */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? `${parts[0]}/${parts[1]}` : (parts[0] as string);
}

function isBuiltin(spec: string): boolean {
  return spec.startsWith('node:') || builtinModules.includes(spec);
}

function exportTarget(entry: unknown, conditions: string[]): string | undefined {
  if (typeof entry === 'string') return entry;
  if (entry === null || typeof entry !== 'object') return undefined;
  for (const [cond, value] of Object.entries(entry)) {
    if (conditions.includes(cond)) {
      const t = exportTarget(value, conditions);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

/** The source file a specifier resolves to (relative, @tmb/* or #import), or undefined. */
function resolveSource(from: string, spec: string, conditions: string[]): string | undefined {
  if (spec.startsWith('.')) return resolve(dirname(from), spec);
  if (spec.startsWith('#')) {
    const pkg = Object.values(PACKAGES).find((p) => from.startsWith(join(ROOT, p.dir) + sep));
    if (pkg === undefined) return undefined;
    const imports = manifest(pkg.dir).imports ?? {};
    for (const [key, value] of Object.entries(imports)) {
      const star = key.indexOf('*');
      if (
        star < 0 ? key !== spec : !(spec.startsWith(key.slice(0, star)) && spec.endsWith(key.slice(star + 1)))
      )
        continue;
      const target = exportTarget(value, conditions);
      if (target === undefined) return undefined;
      const middle = star < 0 ? '' : spec.slice(star, spec.length - (key.length - star - 1));
      return join(ROOT, pkg.dir, target.replace('*', middle));
    }
    return undefined;
  }
  const name = packageOf(spec);
  const pkg = PACKAGES[name];
  if (pkg === undefined) return undefined;
  const sub = spec === name ? '.' : `.${spec.slice(name.length)}`;
  const exp = manifest(pkg.dir).exports;
  const entry = typeof exp === 'string' ? (sub === '.' ? exp : undefined) : exp?.[sub];
  const target = exportTarget(entry, conditions);
  return target === undefined ? undefined : join(ROOT, pkg.dir, target);
}

const sources = new Map<string, string[]>();
function importsOf(file: string, runtimeOnly = false): string[] {
  const key = `${runtimeOnly}:${file}`;
  let s = sources.get(key);
  if (s === undefined) {
    s = specifiers(readFileSync(file, 'utf8'), runtimeOnly);
    sources.set(key, s);
  }
  return s;
}

test('specifiers() finds static, side-effect and dynamic imports and ignores comments', () => {
  const src = [
    "import { a } from './a.ts';",
    "import type { B } from '@tmb/core/log';",
    "export { c } from '../c.ts';",
    "import 'side-effect';",
    "const d = await import('node:fs');",
    "// import { e } from 'commented';",
    "/* import f from 'block'; */",
  ].join('\n');
  assert.deepEqual(specifiers(src), ['./a.ts', '@tmb/core/log', '../c.ts', 'side-effect', 'node:fs']);
  assert.deepEqual(specifiers(src, true), ['./a.ts', '../c.ts', 'side-effect', 'node:fs']);
});

for (const [name, pkg] of Object.entries(PACKAGES)) {
  test(`${name}: imports only what it may, declares what it imports, stays inside its folder`, () => {
    const m = manifest(pkg.dir);
    assert.equal(m.name, name);
    const declared = new Set(
      Object.keys({ ...m.dependencies, ...m.peerDependencies, ...m.optionalDependencies }),
    );
    const problems: string[] = [];
    const base = join(ROOT, pkg.dir);
    for (const file of tsFiles(join(base, 'src'))) {
      const where = relative(ROOT, file);
      for (const spec of importsOf(file)) {
        if (isBuiltin(spec)) continue;
        if (spec.startsWith('.')) {
          if (!resolve(dirname(file), spec).startsWith(base + sep))
            problems.push(`${where}: ${spec} leaves ${pkg.dir}`);
          continue;
        }
        if (spec.startsWith('#')) {
          if (resolveSource(file, spec, ['node', 'import', 'default']) === undefined)
            problems.push(`${where}: ${spec} is not in ${pkg.dir}/package.json imports`);
          continue;
        }
        const dep = packageOf(spec);
        if (dep.startsWith('@tmb/') && !pkg.may.includes(dep))
          problems.push(`${where}: may not import ${dep}`);
        if (!declared.has(dep)) problems.push(`${where}: imports ${dep}, not declared in package.json`);
        if (dep.startsWith('@tmb/') && resolveSource(file, spec, ['node', 'import', 'default']) === undefined)
          problems.push(`${where}: ${spec} is not an export of ${dep}`);
      }
    }
    assert.deepEqual(problems, []);
  });
}

test('browser-safe entries reach no node: module (followed through the browser conditions)', () => {
  const conditions = ['browser', 'import', 'default'];
  const problems: string[] = [];
  for (const entry of BROWSER_SAFE) {
    const start = resolveSource(join(ROOT, 'package.json'), entry, conditions);
    if (start === undefined) {
      problems.push(`${entry}: not exported`);
      continue;
    }
    const seen = new Set<string>();
    const stack: Array<[string, string]> = [[start, entry]];
    while (stack.length > 0) {
      const [file, via] = stack.pop() as [string, string];
      if (seen.has(file)) continue;
      seen.add(file);
      for (const spec of importsOf(file, true)) {
        if (isBuiltin(spec)) {
          problems.push(`${entry} reaches ${spec} (${relative(ROOT, file)}, via ${via})`);
          continue;
        }
        const next = resolveSource(file, spec, conditions);
        if (next !== undefined) stack.push([next, relative(ROOT, file)]);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('the verifier composes verdicts without HTTP', () => {
  const problems: string[] = [];
  for (const dir of NO_HTTP) {
    const files = tsFiles(join(ROOT, dir));
    assert.ok(files.length > 0, `${dir} holds the verdict composition`);
    for (const file of files) {
      for (const spec of importsOf(file)) {
        if (HTTP_MODULES.has(spec)) problems.push(`${relative(ROOT, file)} imports ${spec}`);
        if (spec.startsWith('.') && /[/\\](routes|http)[/\\]/.test(resolve(dirname(file), spec)))
          problems.push(`${relative(ROOT, file)} imports the HTTP layer (${spec})`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('every source path named in README.md and docs/ exists', () => {
  const docs = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((n) => join('docs', n))].filter((n) =>
    n.endsWith('.md'),
  );
  const missing: string[] = [];
  for (const doc of docs) {
    const text = readFileSync(join(ROOT, doc), 'utf8');
    for (const m of text.matchAll(
      /(?<![A-Za-z0-9_./-])(?:packages\/[a-z]+|demo|bench|scripts|test)\/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.(?:ts|md|json|sh|py)\b/g,
    )) {
      if (!existsSync(join(ROOT, m[0]))) missing.push(`${doc}: ${m[0]}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('in the verifier only routes/, http/ and server.ts touch HTTP or the routes', () => {
  const base = join(ROOT, 'packages/verifier/src');
  const problems: string[] = [];
  for (const file of tsFiles(base)) {
    const rel = relative(base, file).split(sep).join('/');
    if (rel.startsWith('routes/') || rel.startsWith('http/') || rel === 'server.ts') continue;
    for (const spec of importsOf(file, true)) {
      if (HTTP_MODULES.has(spec)) problems.push(`${rel} imports ${spec}`);
      if (spec.startsWith('.')) {
        const target = relative(base, resolve(dirname(file), spec))
          .split(sep)
          .join('/');
        if (target.startsWith('routes/')) problems.push(`${rel} imports ${target}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});
