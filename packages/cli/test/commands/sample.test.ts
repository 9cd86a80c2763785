import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

test('tmb sample-server reads its weights, serves the model and the simulated GPU, and stops on SIGTERM', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-sample-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const weights = join(dir, 'w.gguf');
  const bytes = new TextEncoder().encode('stand-in weights');
  await writeFile(weights, bytes);
  const io = capture();
  const done = main(
    ['sample-server', '--model', 'm-1', '--weights', weights, '--gpu', '--token-latency', '0'],
    io,
  );
  // Its ready line, or its end if it fails first (then the assertion says why).
  const ended = done.then((code) => `exited ${code}: ${io.err}`);
  while (!io.out.includes('\n'))
    assert.equal(await Promise.race([ended, new Promise((r) => setTimeout(() => r(null), 10))]), null);
  const ready = JSON.parse(io.out) as { listening: string; gpu: string; weights: string };
  assert.equal(ready.weights, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
  const models = (await (await fetch(`${ready.listening}/v1/models`)).json()) as { data: { id: string }[] };
  assert.deepEqual(
    models.data.map((m) => m.id),
    ['m-1'],
  );
  const gpu = (await (await fetch(`${ready.gpu}/sim/gpu`)).json()) as { simulated: boolean };
  assert.equal(gpu.simulated, true);
  process.emit('SIGTERM', 'SIGTERM');
  assert.equal(await done, 0);
  await assert.rejects(fetch(`${ready.listening}/v1/models`, { signal: AbortSignal.timeout(2000) }));
});

test('tmb sample-server: a missing weights file refuses the start; bad flags are usage errors; --help', async () => {
  await assert.rejects(
    main(['sample-server', '--model', 'm', '--weights', '/nonexistent/w.gguf'], capture()),
    /ENOENT/,
  );
  const bad = capture();
  assert.equal(await main(['sample-server', '--model', 'm', '--variant', 'pricey'], bad), 2);
  assert.match(bad.err, /--variant is honest or cheap/);
  assert.equal(await main(['sample-server'], capture()), 2);
  const help = capture();
  assert.equal(await main(['sample-server', '--help'], help), 0);
  assert.match(help.out, /SAMPLE model server/);
});
