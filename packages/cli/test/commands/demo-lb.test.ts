import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createVerifiedFetch } from '@tmb/client';
import { startBalancer } from '../../src/commands/demo/lb.ts';
import type { Backend } from '../../src/commands/demo/stack.ts';

// The demo's router without starting a demo (demo.test.ts runs whole demos through nginx).

/** Backends with only what the router reads: a name, a kind, an agent URL (nothing listens there). */
function backends(honest: number): Backend[] {
  const one = (name: string, variant: 'honest' | 'cheap', port: number) =>
    ({ host: { name }, variant, agentUrl: `http://127.0.0.1:${port}` }) as unknown as Backend;
  return [
    ...Array.from({ length: honest }, (_, i) =>
      one(i === 0 ? 'gpu-honest' : `gpu-honest-${i + 1}`, 'honest', 9 + i),
    ),
    one('gpu-cheap', 'cheap', 8),
  ];
}

const tmb = createVerifiedFetch({ verifierUrl: 'http://127.0.0.1:9' });

test('without nginx (auto) it routes directly, says how to install nginx, and picks by the same weights', async () => {
  const b = backends(2);
  const lb = await startBalancer(b, { share: 0.2, routing: 'auto', tmb, find: () => undefined });
  try {
    assert.equal(lb.routing, 'direct');
    assert.equal(lb.label, 'direct (no nginx)');
    assert.equal(lb.url, undefined);
    assert.match(lb.why, /nginx is not installed: apt-get install nginx/);
    assert.deepEqual(
      lb.weights.map((w) => [w.host, w.weight]),
      [
        ['gpu-honest', 2],
        ['gpu-honest-2', 2],
        ['gpu-cheap', 1],
      ],
    );
    // nginx's smooth weighted round-robin over weights 2, 2, 1: one cheap pick in five.
    const picks = Array.from({ length: 10 }, () => lb.pick().host.name);
    assert.deepEqual(picks.slice(0, 5), [
      'gpu-honest',
      'gpu-honest-2',
      'gpu-cheap',
      'gpu-honest',
      'gpu-honest-2',
    ]);
    assert.deepEqual(picks.slice(5), picks.slice(0, 5));
    assert.equal(await lb.servedBy('0'.repeat(32)), undefined, 'no access log to read');
  } finally {
    await lb.close();
  }
});

test('--routing nginx without nginx is an error that says how to install it; --cheat 1 routes only to the cheap host', async () => {
  await assert.rejects(
    startBalancer(backends(1), { share: 0.2, routing: 'nginx', tmb, find: () => undefined }),
    /nginx is not installed \(apt-get install nginx\)/,
  );
  const lb = await startBalancer(backends(3), { share: 1, routing: 'direct', tmb });
  assert.equal(lb.why, '--routing direct');
  assert.deepEqual(new Set(Array.from({ length: 8 }, () => lb.pick().variant)), new Set(['cheap']));
  await lb.close();
});
