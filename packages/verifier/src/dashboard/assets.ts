// The dashboard's static files (docs/dashboard.md): the page, its style sheet and module from
// `static/` beside this file, and uPlot's ESM build and style sheet from the installed `uplot`
// package. All are read once at start, hashed for their ETag and gzipped once, so a request
// costs a Map lookup. They hold no data: every number on the page comes from a data route that
// needs a token.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

/** One static file as served. */
export interface Asset {
  body: Buffer;
  /** The body gzipped, or null when that does not make it smaller. */
  gzip: Buffer | null;
  type: string;
  /** A strong ETag: quoted base64url SHA-256 of the body (first 128 bits). */
  etag: string;
}

/** The page's Content-Security-Policy: nothing but this origin, no inline script or style. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The page's own files, under static/ (copied into the built package: package.json `files`). */
const OWN: readonly [name: string, type: string][] = [
  ['index.html', 'text/html; charset=utf-8'],
  ['dashboard.js', 'text/javascript; charset=utf-8'],
  ['dashboard.css', 'text/css; charset=utf-8'],
  ['icon.svg', 'image/svg+xml'],
];

/** uPlot's files, served under these names, from the `uplot` package (a dependency). */
const UPLOT: readonly [name: string, file: string, type: string][] = [
  ['uplot.js', 'uplot/dist/uPlot.esm.js', 'text/javascript; charset=utf-8'],
  ['uplot.css', 'uplot/dist/uPlot.min.css', 'text/css; charset=utf-8'],
];

/**
 * Reads and prepares every dashboard file: the page's from static/, uPlot's resolved from this
 * package's dependencies (so the built, installed package finds its own copy).
 * @throws Error when a file is missing (the package is incomplete: the verifier does not start)
 */
export function loadAssets(): Promise<Map<string, Asset>> {
  // Once per process: the files do not change while it runs, and every verifier it starts shares them.
  loaded ??= readAssets();
  return loaded;
}

let loaded: Promise<Map<string, Asset>> | undefined;

async function readAssets(): Promise<Map<string, Asset>> {
  const req = createRequire(import.meta.url);
  const files: [string, string, string][] = [
    ...OWN.map(([name, type]): [string, string, string] => [
      name,
      fileURLToPath(new URL(`./static/${name}`, import.meta.url)),
      type,
    ]),
    ...UPLOT.map(([name, spec, type]): [string, string, string] => [name, req.resolve(spec), type]),
  ];
  const out = new Map<string, Asset>();
  for (const [name, file, type] of files) out.set(name, prepare(await readFile(file), type));
  return out;
}

function prepare(body: Buffer, type: string): Asset {
  const zipped = gzipSync(body, { level: 9 });
  const tag = createHash('sha256').update(body).digest().subarray(0, 16).toString('base64url');
  return { body, gzip: zipped.length < body.length ? zipped : null, type, etag: `"${tag}"` };
}

/** Whether an `If-None-Match` header names `etag` (a list, or `*`; weak tags compare equal). */
export function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === '*') return true;
  return header
    .split(',')
    .map((t) => t.trim().replace(/^W\//, ''))
    .includes(etag);
}

/** Whether an `Accept-Encoding` header allows gzip (q=0 refuses it). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}
