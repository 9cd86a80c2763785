/**
 * Builds the publishable packages: `npm run build` (all workspaces) or
 *   node_modules/.bin/node scripts/build.ts [--out DIR] [--pack DIR] [core client ...]
 * For each package: tsc emits `src/**` as `.js` + `.d.ts` + maps into `packages/<p>/dist/` (or
 * `DIR/<p>/` with --out), the files its manifest lists are copied beside them, and a generated
 * dist/package.json (scripts/build-manifest.ts) points `exports` at the emitted files. The
 * repository itself keeps running from `src/*.ts` with no build. With --pack, `npm pack` makes a
 * tarball of each dist in DIR. Exits 1 on a type error or an undeclared import.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import ts from 'typescript';
import { type EmitTarget, emitPackages } from './build-emit.ts';
import { distManifest, type Manifest } from './build-manifest.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');

/** A workspace package: folder, short name (the folder's name) and manifest. */
interface Workspace {
  dir: string;
  short: string;
  manifest: Manifest;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** The root manifest's workspaces, in its order (dependencies before dependants). */
function workspaces(): Workspace[] {
  const root = readJson<{ workspaces: string[] }>(join(ROOT, 'package.json'));
  return root.workspaces.map((w) => {
    const dir = join(ROOT, w);
    return { dir, short: basename(dir), manifest: readJson<Manifest>(join(dir, 'package.json')) };
  });
}

/** The workspaces named on the command line (short or full name), or all of them. */
function select(all: Workspace[], names: string[]): Workspace[] {
  if (names.length === 0) return all;
  const unknown = names.filter((n) => !all.some((w) => w.short === n || w.manifest.name === n));
  if (unknown.length > 0) throw new Error(`unknown package: ${unknown.join(', ')}`);
  return all.filter((w) => names.includes(w.short) || names.includes(w.manifest.name));
}

/** The package a bare specifier names (`@tmb/core/tpm` -> `@tmb/core`), or null if not bare. */
function packageOf(spec: string): string | null {
  if (/^[./#]/.test(spec) || isBuiltin(spec)) return null;
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

/** Emitted `.js` files that import a package the dist manifest does not declare. */
function undeclared(m: Manifest, written: readonly string[]): string[] {
  const ok = new Set([m.name, ...Object.keys({ ...m.dependencies, ...m.peerDependencies })]);
  const found: string[] = [];
  for (const f of written.filter((x) => x.endsWith('.js'))) {
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(f, 'utf8'), true, true).importedFiles) {
      const p = packageOf(spec);
      if (p !== null && !ok.has(p)) found.push(`${f}: imports ${spec}, not a dependency of ${m.name}`);
    }
  }
  return found;
}

/** Copies the manifest's run-time assets and README into dist; writes dist/package.json. */
function finish(w: Workspace, out: string, versions: ReadonlyMap<string, string>): Manifest {
  const m = distManifest(w.manifest, versions);
  for (const f of [...(w.manifest.files ?? []), 'README.md'].filter((x) => existsSync(join(w.dir, x))))
    cpSync(join(w.dir, f), join(out, f), { recursive: true });
  writeFileSync(join(out, 'package.json'), `${JSON.stringify(m, null, 2)}\n`);
  for (const bin of Object.values(m.bin ?? {})) {
    if (!readFileSync(join(out, bin), 'utf8').startsWith('#!/usr/bin/env node'))
      throw new Error(`${m.name}: bin ${bin} has no #!/usr/bin/env node line`);
  }
  return m;
}

/** `npm pack` of one dist folder into `dest`; returns the tarball's path. */
function pack(out: string, dest: string): string {
  mkdirSync(dest, { recursive: true });
  const json = execFileSync('npm', ['pack', out, '--pack-destination', dest, '--json', '--silent'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [info] = JSON.parse(json) as { filename: string }[];
  return join(dest, info!.filename);
}

/** Runs the build; returns the exit status. */
export function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string' }, pack: { type: 'string' } },
  });
  const all = workspaces();
  const chosen = select(all, positionals);
  const versions = new Map(all.map((w) => [w.manifest.name, w.manifest.version]));
  const outOf = (w: Workspace) => (values.out ? resolve(values.out, w.short) : join(w.dir, 'dist'));
  const targets: EmitTarget[] = chosen.map((w) => ({ dir: w.dir, out: outOf(w) }));
  for (const t of targets) rmSync(t.out, { recursive: true, force: true });
  const { written, errors } = emitPackages(join(ROOT, 'tsconfig.build.json'), targets);
  for (const w of chosen) {
    const m = finish(w, outOf(w), versions);
    errors.push(
      ...undeclared(
        m,
        written.filter((f) => f.startsWith(`${outOf(w)}/`)),
      ),
    );
  }
  if (errors.length > 0) {
    process.stderr.write(`${errors.join('\n')}\nbuild: ${errors.length} error(s)\n`);
    return 1;
  }
  for (const w of chosen) {
    const files = readdirSync(outOf(w), { recursive: true }).length;
    const tgz = values.pack ? ` -> ${pack(outOf(w), resolve(values.pack))}` : '';
    process.stdout.write(`${w.manifest.name}: ${outOf(w)} (${files} entries)${tgz}\n`);
  }
  return 0;
}

if (import.meta.main) process.exitCode = main(process.argv.slice(2));
