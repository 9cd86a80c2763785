import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Core and the client run in a browser (packages/client/test/browser.test.ts runs them in
// Chromium where one is installed). This check needs no browser: outside core's
// platform/node/, no source of either package may reach Node's runtime, so a new module that
// does fails here, on every machine.

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const DIRS = ['packages/core/src', 'packages/client/src'];
const NODE_ONLY = /^packages\/core\/src\/platform\/node\//;
// Code, not comments: an import or dynamic import of node:*, Buffer, process, require.
const FORBIDDEN = [
  /\bfrom\s+['"]node:/,
  /\bimport\s*\(\s*['"]node:/,
  /(?<![\w.])Buffer\./,
  /(?<![\w.])process\./,
  /(?<![\w.])require\(/,
];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** The lines of `text` that are code: line and block comments dropped (good enough for this check). */
function code(text: string): string[] {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .split('\n')
    .map((l) => l.replace(/(^|[^:])\/\/.*$/, '$1'));
}

test('core and client sources use no Node runtime outside core/src/platform/node', () => {
  const found: string[] = [];
  for (const d of DIRS)
    for (const file of sources(join(root, d))) {
      const rel = relative(root, file);
      if (NODE_ONLY.test(rel)) continue;
      code(readFileSync(file, 'utf8')).forEach((line, i) => {
        if (FORBIDDEN.some((re) => re.test(line))) found.push(`${rel}:${i + 1}: ${line.trim()}`);
      });
    }
  assert.deepEqual(found, []);
});
