import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';

// appraise/ composes verdicts with no HTTP in it (issue 11): no node:http, no request context,
// no route or response helper. The routes call it; it never calls them.

const dir = new URL('../../src/appraise/', import.meta.url);
const FORBIDDEN = [
  /from 'node:https?'/,
  /from '\.\.\/routes\//,
  /from '\.\.\/http\//,
  /from '\.\.\/server\.ts'/,
];

test('appraise/ imports nothing of HTTP', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.length >= 5, 'the appraise folder is where the verdict is composed');
  for (const f of files) {
    const text = readFileSync(new URL(f, dir), 'utf8');
    const imports = text
      .split('\n')
      .filter((l) => /^(import|export) .* from '/.test(l) || /^} from '/.test(l));
    for (const line of imports)
      for (const bad of FORBIDDEN) assert.doesNotMatch(line, bad, `appraise/${f}: ${line}`);
    assert.doesNotMatch(
      text,
      /\bContext\b|IncomingMessage|ServerResponse/,
      `appraise/${f} names an HTTP type`,
    );
  }
});
