// Steps that can take seconds say what they are doing: one line each on stderr, none with
// --quiet or --json (docs/cli.md, "Progress").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { progressTo } from '../src/commands/demo/index.ts';
import { main } from '../src/main.ts';
import { capture } from './io.ts';

test('tmb demo says what it is doing while it starts: one line per step, on stderr', async () => {
  const io = capture();
  // Whether every verdict came out as expected is demo.test.ts's matter; here, that it ran.
  const status = await main(['demo', '--once', '--tpm', 'none', '--no-telemetry'], io);
  assert.ok(status === 0 || status === 1, `${status}: ${io.err}`);
  assert.match(io.out, /^request id/m);
  const steps = io.err.split('\n').filter((l) => l.endsWith('...'));
  for (const step of [
    'starting the honest host gpu-honest...',
    'starting the honest host gpu-honest-2...',
    'starting the cheap host gpu-cheap...',
    'starting the verifier...',
    "starting gpu-honest's sample model server and agent...",
    "starting gpu-cheap's sample model server and agent...",
    'starting the load balancer...',
  ])
    assert.ok(steps.includes(step), `missing ${JSON.stringify(step)} in ${JSON.stringify(steps)}`);
  assert.doesNotMatch(io.out, /\.\.\.$/m);
});

test('demo progress goes to stderr, and nowhere with --quiet or --json', () => {
  for (const [flags, shown] of [
    [{}, true],
    [{ quiet: true }, false],
    [{ json: true }, false],
    [{ quiet: true, json: true }, false],
  ] as const) {
    const io = capture();
    progressTo(io, flags)('starting the verifier...');
    assert.equal(io.err, shown ? 'starting the verifier...\n' : '', JSON.stringify(flags));
    assert.equal(io.out, '');
  }
});
