import { readFileSync, realpathSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { stripTypeScriptTypes } from 'node:module';
import type { AddressInfo } from 'node:net';
import { extname, join, relative, resolve, sep } from 'node:path';

// A test-only web server for running the client in a browser with no build: it serves the
// repository's files on 127.0.0.1 (port 0), strips TypeScript types on the fly, and gives the
// page an import map for the bare specifiers, made from each package.json's `exports` and
// `imports` under the browser's conditions.

/** Conditions a browser resolves under, in order of preference (as a bundler targeting one would). */
const CONDITIONS = ['browser', 'import', 'default'];

/** The packages whose bare specifiers the page may import. */
const PACKAGES = ['@tmb/client', '@tmb/core', '@noble/hashes', '@noble/curves', 'jose', 're2js'];

type Target = string | null | Target[] | { [condition: string]: Target };

/** The file a package.json target names under CONDITIONS (Node's algorithm: first listed key that matches). */
function pick(t: Target): string | null {
  if (typeof t === 'string') return t;
  if (t === null) return null;
  if (Array.isArray(t)) {
    for (const x of t) {
      const r = pick(x);
      if (r !== null) return r;
    }
    return null;
  }
  for (const [k, v] of Object.entries(t)) {
    if (!CONDITIONS.includes(k)) continue;
    const r = pick(v);
    if (r !== null) return r;
  }
  return null;
}

/**
 * Import map entries of one `exports` or `imports` field: exact subpaths, and patterns whose
 * key and target end the same after `*` (an import map maps prefixes only).
 */
function entries(
  field: Record<string, Target>,
  prefix: (key: string) => string,
  base: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(field)) {
    const target = pick(value);
    if (target === null || !target.startsWith('./')) continue;
    const [kStar, tStar] = [key.indexOf('*'), target.indexOf('*')];
    if (kStar < 0) out[prefix(key)] = base + target.slice(2);
    else if (tStar >= 0 && key.slice(kStar + 1) === target.slice(tStar + 1))
      out[prefix(key.slice(0, kStar))] = base + target.slice(2, tStar);
  }
  return out;
}

/** The import map (with one scope per package for its `#` imports) for PACKAGES under `root`. */
export function importMap(root: string): {
  imports: Record<string, string>;
  scopes: Record<string, Record<string, string>>;
} {
  const imports: Record<string, string> = {};
  const scopes: Record<string, Record<string, string>> = {};
  for (const name of PACKAGES) {
    const dir = realpathSync(join(root, 'node_modules', name));
    const base = `/${relative(root, dir).split(sep).join('/')}/`;
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      exports?: Target;
      imports?: Record<string, Target>;
    };
    let exp = pkg.exports ?? './index.js';
    if (
      typeof exp !== 'object' ||
      exp === null ||
      Array.isArray(exp) ||
      !Object.keys(exp).some((k) => k.startsWith('.'))
    )
      exp = { '.': exp };
    Object.assign(
      imports,
      entries(exp as Record<string, Target>, (k) => name + k.slice(1), base),
    );
    if (pkg.imports !== undefined) scopes[base] = entries(pkg.imports, (k) => k, base);
  }
  return { imports, scopes };
}

const TYPES: Record<string, string> = {
  '.ts': 'text/javascript',
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
};

/** A running server: its origin, every path the page asked for (and those it lacked), and close(). */
export interface TestServer {
  origin: string;
  requested: string[];
  missing: string[];
  close(): Promise<void>;
}

/** Serves `root` (scripts only, types stripped) with `/` an empty page carrying the import map. */
export async function serve(root: string): Promise<TestServer> {
  const page = `<!doctype html><meta charset="utf-8"><title>tmb</title><script type="importmap">${JSON.stringify(importMap(root))}</script>`;
  const requested: string[] = [];
  const missing: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    requested.push(path);
    const file = resolve(root, `.${path}`);
    const type = TYPES[extname(file)];
    let text: string;
    try {
      if (!file.startsWith(root + sep) || type === undefined) throw new Error('not served');
      text = readFileSync(file, 'utf8');
      if (file.endsWith('.ts')) text = stripTypeScriptTypes(text, { mode: 'strip', sourceUrl: path });
    } catch {
      missing.push(path);
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': `${type}; charset=utf-8`, 'cache-control': 'no-store' }).end(text);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requested,
    missing,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
