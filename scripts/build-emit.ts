/**
 * Compiles workspace packages' `src/` with the TypeScript compiler (tsconfig.build.json) into each
 * package's dist folder: `.js` with `.ts` import paths rewritten to `.js`
 * (rewriteRelativeImportExtensions), `.d.ts`, and source maps that carry their source text.
 * One program covers every package built, so `@tmb/*` imports between them resolve to the
 * sources in this repository and stay bare specifiers in the output.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import ts from 'typescript';

/** One package to emit: its folder in the repository and the folder its dist goes to. */
export interface EmitTarget {
  /** Absolute path of the package folder (holds package.json and src/). */
  dir: string;
  /** Absolute path of the dist folder: `src/x.ts` is emitted as `<out>/src/x.js`. */
  out: string;
}

/** What an emit did: files written, and the compiler's errors (type errors included). */
export interface EmitResult {
  written: string[];
  errors: string[];
}

/** The `.ts` sources under each target's src/, tests and declaration files excluded. */
function sources(targets: readonly EmitTarget[]): string[] {
  return targets.flatMap((t) =>
    ts.sys.readDirectory(join(t.dir, 'src'), ['.ts']).filter((f) => !f.endsWith('.d.ts')),
  );
}

/** Reads tsconfig.build.json. @throws Error with the compiler's message when it is invalid. */
function buildOptions(config: string): ts.CompilerOptions {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    config,
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!parsed) throw new Error(`cannot read ${config}`);
  // No outDir: the compiler names each output beside its source, so a map's `sources` is the
  // source's own file name; writeFile then moves every output into its package's dist.
  return { ...parsed.options, outDir: undefined, rootDir: undefined, noEmit: false };
}

const format = (d: ts.Diagnostic): string =>
  ts
    .formatDiagnostic(d, {
      getCanonicalFileName: (f) => f,
      getCurrentDirectory: ts.sys.getCurrentDirectory,
      getNewLine: () => '\n',
    })
    .trimEnd();

/**
 * The compiler rewrites `./x.ts` to `./x.js` in JavaScript only; declaration files keep `.ts`.
 * Rewritten here too, so that a consumer's compiler needs no `.ts`-extension support.
 */
function jsSpecifiers(dts: string): string {
  return dts.replace(/(\bfrom\s+|\bimport\s*\(\s*)(['"])(\.{1,2}\/[^'"\n]*?)\.ts\2/g, '$1$2$3.js$2');
}

/**
 * Type-checks and emits the targets' sources. A file outside every target (a package a target
 * imports but that is not being built) is checked but not written.
 */
export function emitPackages(config: string, targets: readonly EmitTarget[]): EmitResult {
  const program = ts.createProgram({ rootNames: sources(targets), options: buildOptions(config) });
  const errors = ts.getPreEmitDiagnostics(program).map(format);
  const written: string[] = [];
  const emitted = program.emit(undefined, (file, text) => {
    const t = targets.find((x) => file.startsWith(`${x.dir}${sep}src${sep}`));
    if (!t) return;
    const dest = join(t.out, relative(t.dir, file));
    if (file.endsWith('.d.ts')) text = jsSpecifiers(text);
    mkdirSync(dirname(dest), { recursive: true });
    writeFileSync(dest, text);
    written.push(dest);
  });
  errors.push(...emitted.diagnostics.map(format));
  return { written, errors };
}
