import assert from 'node:assert/strict';
import { test } from 'node:test';
import { demoOptions } from '../../src/commands/demo/options.ts';

// `tmb demo`'s flags, read without starting anything (demo.test.ts runs the demo itself).

test('--telemetry is read: on by default, and of --telemetry and --no-telemetry the last counts', () => {
  const telemetry = (...argv: string[]) => demoOptions(argv)?.telemetry;
  assert.equal(telemetry(), true);
  assert.equal(telemetry('--telemetry'), true);
  assert.equal(telemetry('--no-telemetry'), false);
  assert.equal(telemetry('--telemetry', '--no-telemetry'), false);
  assert.equal(telemetry('--no-telemetry', '--once', '--telemetry'), true);
  // A value that looks like the flag is the model's name, not the flag.
  assert.equal(telemetry('--no-telemetry', '--model=--telemetry'), false);
});

test('telemetry on needs time per token: --token-latency 0 only with telemetry off', () => {
  assert.throws(() => demoOptions(['--token-latency', '0']), {
    name: 'UsageError',
    message: /--token-latency must be a number >= 1/,
  });
  assert.throws(() => demoOptions(['--no-telemetry', '--token-latency', '0', '--telemetry']), {
    name: 'UsageError',
  });
  assert.equal(demoOptions(['--token-latency', '0', '--no-telemetry'])?.latencyMs, 0);
});

test('defaults, --attack implying --once, and --help checking nothing else', () => {
  assert.deepEqual(demoOptions([]), {
    once: false,
    json: false,
    intervalMs: 3000,
    latencyMs: 5,
    model: 'sample-7b',
    tpm: 'auto',
    telemetry: true,
    attack: undefined,
    verbose: false,
    quiet: false,
    dataDir: undefined,
    hosts: 3,
    cheat: 0.2,
    routing: 'auto',
    requests: undefined,
  });
  const a = demoOptions(['--attack', 'forge', '--tpm', 'none']);
  assert.equal(a?.once, true);
  assert.equal(a?.attack, 'forge');
  assert.equal(a?.tpm, 'none');
  assert.equal(demoOptions(['--help', '--tpm', 'nope']), null);
  assert.throws(() => demoOptions(['--tpm', 'nope']), { name: 'UsageError', message: /--tpm is/ });
  assert.throws(() => demoOptions(['--attack', 'nope']), {
    name: 'UsageError',
    message: /--attack is one of/,
  });
  assert.throws(() => demoOptions(['--interval', 'soon']), { name: 'UsageError', message: /--interval/ });
});

test('--hosts, --cheat, --routing and --requests are read and bounded', () => {
  const o = demoOptions(['--hosts', '4', '--cheat', '0.5', '--routing', 'direct', '--requests', '10']);
  assert.deepEqual([o?.hosts, o?.cheat, o?.routing, o?.requests], [4, 0.5, 'direct', 10]);
  assert.equal(demoOptions(['--cheat', '0'])?.cheat, 0);
  assert.equal(demoOptions(['--cheat', '1'])?.cheat, 1);
  for (const [argv, message] of [
    [['--hosts', '1'], /--hosts must be a number >= 2/],
    [['--hosts', '2.5'], /--hosts must be a whole number/],
    [['--hosts', '17'], /--hosts must be a whole number from 2 to 16/],
    [['--cheat', '1.5'], /--cheat is a share from 0 to 1/],
    [['--cheat=-0.1'], /--cheat must be a number >= 0/],
    [['--routing', 'haproxy'], /--routing is auto, nginx or direct/],
    [['--requests', '0'], /--requests must be a number >= 1/],
  ] as const)
    assert.throws(() => demoOptions([...argv]), { name: 'UsageError', message }, argv.join(' '));
});
