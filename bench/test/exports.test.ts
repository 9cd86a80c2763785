import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { test } from 'node:test';

// Not a timing test: every bench module loads and exports the `run` generator bench/run.ts calls.
test('every bench/*.bench.ts exports an async generator function run', async () => {
  const dir = new URL('../', import.meta.url);
  const names = (await readdir(dir)).filter((f) => f.endsWith('.bench.ts')).sort();
  for (const wanted of ['proxy.bench.ts', 'receipts.bench.ts', 'sse.bench.ts'])
    assert.ok(names.includes(wanted), wanted);
  for (const name of names) {
    const mod = (await import(new URL(name, dir).href)) as { run?: unknown };
    assert.equal(typeof mod.run, 'function', `${name} exports run`);
    assert.equal(
      (mod.run as () => unknown).constructor.name,
      'AsyncGeneratorFunction',
      `${name}: run is async function*`,
    );
  }
});

test('the proxy bench sends request bodies of exactly 1 KiB of valid JSON', async () => {
  const { requestBody } = await import('../proxy.bench.ts');
  const body = requestBody();
  assert.equal(body.byteLength, 1024);
  assert.equal(JSON.parse(body.toString()).messages[0].role, 'user');
});
