/**
 * The publishable package.json of one workspace package (scripts/build.ts). The in-repo manifest
 * points at `src/*.ts` so the repository runs from source with no build; the published one points
 * at the emitted `src/*.js` and `src/*.d.ts` under dist/, which is the package root that
 * `npm pack` packs.
 */

/** A package.json, as far as the build reads it. */
export interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  license?: string;
  type?: string;
  engines?: Record<string, string>;
  sideEffects?: boolean;
  exports?: Targets;
  imports?: Record<string, Targets>;
  bin?: string | Record<string, string>;
  files?: string[];
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
  /** `bin` here names the TypeScript entry; the published `bin` is its emitted `.js`. */
  publishConfig?: { bin?: Record<string, string> };
  [field: string]: unknown;
}

/** An `exports`/`imports` value: a path, a list of fallbacks, or conditions (Node's packages docs). */
export type Targets = string | null | Targets[] | { [conditionOrSubpath: string]: Targets };

/** Fields copied unchanged from the source manifest, in this order. */
const COPIED = ['name', 'version', 'description', 'license', 'type', 'engines', 'sideEffects'] as const;

/**
 * A path to a TypeScript source becomes `{ types, default }` pointing at the emitted declaration
 * and JavaScript; conditions (`node`, `default`, ...) and fallbacks keep their shape around it.
 * Anything that is not a `.ts` path (a folder pattern such as `./src/*`, `null`) is kept as is.
 */
export function distTargets(t: Targets): Targets {
  if (t === null) return null;
  if (Array.isArray(t)) return t.map(distTargets);
  if (typeof t === 'object')
    return Object.fromEntries(Object.entries(t).map(([k, v]) => [k, distTargets(v)]));
  if (!t.endsWith('.ts') || t.endsWith('.d.ts')) return t;
  const stem = t.slice(0, -'.ts'.length);
  return { types: `${stem}.d.ts`, default: `${stem}.js` };
}

/** `./src/main.ts` -> `./src/main.js`: a bin runs the emitted JavaScript (it keeps the shebang). */
function distBin(bin: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(bin).map(([k, v]) => [k, v.replace(/\.ts$/, '.js')]));
}

/**
 * Each `@tmb/*` dependency must name the version that package has in this repository, so that
 * the packed tarballs install together.
 * @throws Error naming the dependency when the versions differ.
 */
function checkWorkspaceDeps(m: Manifest, versions: ReadonlyMap<string, string>): void {
  for (const [dep, range] of Object.entries({ ...m.dependencies, ...m.peerDependencies })) {
    const v = versions.get(dep);
    if (v !== undefined && range !== v)
      throw new Error(`${m.name}: dependency ${dep}@${range}, but the repository has ${dep}@${v}`);
  }
}

/**
 * The generated dist/package.json of a source manifest: no `private`, no devDependencies or
 * scripts; `exports` and `imports` on the emitted files; `files` lists `src/` and the source
 * manifest's own `files` (assets the package reads at run time, copied by the build).
 * @throws Error when a workspace dependency's version is not the repository's (checkWorkspaceDeps).
 */
export function distManifest(src: Manifest, versions: ReadonlyMap<string, string>): Manifest {
  checkWorkspaceDeps(src, versions);
  const out: Record<string, unknown> = { name: src.name, version: src.version };
  for (const f of COPIED) if (src[f] !== undefined) out[f] = src[f];
  if (src.publishConfig?.bin) out.bin = distBin(src.publishConfig.bin);
  out.files = ['src/', ...(src.files ?? [])];
  if (src.exports !== undefined) {
    const exp = distTargets(src.exports);
    // The manifest itself is readable by tools (`require.resolve('@tmb/core/package.json')`).
    out.exports =
      typeof exp === 'object' && exp !== null && !Array.isArray(exp) && '.' in exp
        ? { ...exp, './package.json': './package.json' }
        : exp;
  }
  if (src.imports !== undefined)
    out.imports = Object.fromEntries(Object.entries(src.imports).map(([k, v]) => [k, distTargets(v)]));
  for (const f of ['dependencies', 'peerDependencies', 'peerDependenciesMeta'] as const)
    if (src[f] !== undefined && Object.keys(src[f]).length > 0) out[f] = src[f];
  return out as Manifest;
}
