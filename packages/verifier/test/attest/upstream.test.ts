import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ModelRegistry } from '@tmb/core/ima';
import type { RunningVerifier } from '../../src/index.ts';
import { hexOf, type ScriptedHost, withVerifier } from './kernel-host.ts';

// Evidence `upstream` (docs/evidence.md) and host.upstream (docs/result.md) on real quotes
// (swtpm) over a scripted kernel log that measured /models/big.gguf as big-model's weights:
// each upstream shape gives its status for the receipts that quote covers; a malformed member
// is refused with 400 BODY_MALFORMED naming it.

const REGISTRY: ModelRegistry = {
  version: 1,
  models: {
    'big-model': { weights: [hexOf('big weights')] },
    'sample-1b': { weights: [hexOf('small weights')] },
  },
  engines: { 'llama.cpp': { executables: [hexOf('llama-server')] } },
  agents: [],
  tools: {},
};

let v: RunningVerifier;
let host: ScriptedHost;
let close: () => Promise<void>;

before(async () => {
  ({ v, host, close } = await withVerifier('tmb-upstream-', 'host-u', { registry: REGISTRY }));
  await host.file('/usr/bin/llama-server', 'llama-server');
  await host.file('/models/big.gguf', 'big weights');
});

after(() => close?.());

type Check = { name: string; status: string; code?: string; detail: string };

async function upstreamOf(id: string): Promise<{ check: Check; level: string }> {
  const r = await fetch(`${v.url}/v1/receipts/${id}`);
  assert.equal(r.status, 200);
  const vd = ((await r.json()) as { verdict: { checks: Check[]; level: string } }).verdict;
  const c = vd.checks.find((x) => x.name === 'host.upstream');
  assert.ok(c, JSON.stringify(vd.checks.map((x) => x.name)));
  return { check: c, level: vd.level };
}

/** Serves one receipt for `model`, quotes with `upstream` (undefined: member left out), returns the receipt's check. */
async function judged(upstream: unknown, model = 'big-model'): Promise<Check> {
  const [id] = await host.serve(1, model);
  const r = await host.quote({
    telemetryTool: null,
    edit: (b) => {
      if (upstream !== undefined) b.upstream = upstream;
    },
  });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return (await upstreamOf(id!)).check;
}

const engine = (files: string[], exe = '/usr/bin/llama-server') => ({
  kind: 'local',
  processes: [{ pid: 4242, exe, files }],
});

test('each upstream shape gives its host.upstream status', async () => {
  const absent = await judged(undefined);
  assert.equal(absent.status, 'skipped', absent.detail);
  assert.equal((await judged(null)).status, 'skipped');
  const pass = await judged(engine(['/usr/lib/libc.so.6', '/models/big.gguf']));
  assert.equal(pass.status, 'pass', pass.detail);
  const other = await judged(engine(['/models/big.gguf']), 'sample-1b');
  assert.deepEqual([other.status, other.code], ['fail', 'UPSTREAM_WEIGHTS_NOT_ALLOWED'], other.detail);
  assert.match(other.detail, /weights of big-model/);
  const relay = await judged(engine(['/usr/lib/libc.so.6'], '/usr/bin/socat'));
  assert.deepEqual([relay.status, relay.code], ['fail', 'UPSTREAM_WEIGHTS_NOT_MEASURED'], relay.detail);
  const elsewhere = await judged(engine(['/models/big.gguf (deleted)', '/srv/big.gguf']));
  assert.equal(elsewhere.code, 'UPSTREAM_WEIGHTS_NOT_MEASURED');
  const remote = await judged({ kind: 'remote', reason: 'remote host 203.0.113.5', processes: [] });
  assert.deepEqual([remote.status, remote.code], ['fail', 'UPSTREAM_NOT_LOCAL']);
  assert.match(remote.detail, /203\.0\.113\.5/);
  const none = await judged({ kind: 'none', reason: 'no-holder: nobody', processes: [] });
  assert.deepEqual([none.status, none.code], ['fail', 'UPSTREAM_NOT_LOCAL']);
  assert.match(none.detail, /no-holder/);
});

test('a malformed upstream is refused with 400 BODY_MALFORMED naming the member', async () => {
  const cases: [unknown, RegExp][] = [
    ['local', /"upstream"/],
    [{ kind: 'elsewhere', processes: [] }, /"upstream\.kind"/],
    [{ kind: 'local' }, /"upstream\.processes"/],
    [{ kind: 'none', reason: 'x'.repeat(1025), processes: [] }, /"upstream\.reason"/],
    [
      { kind: 'local', processes: Array.from({ length: 17 }, (_, i) => ({ pid: i, exe: null, files: [] })) },
      /"upstream\.processes"/,
    ],
    [{ kind: 'local', processes: [{ pid: -1, exe: null, files: [] }] }, /"upstream\.processes\[0\]\.pid"/],
    [{ kind: 'local', processes: [{ pid: 1, exe: 7, files: [] }] }, /"upstream\.processes\[0\]\.exe"/],
    [
      { kind: 'local', processes: [{ pid: 1, exe: null, files: ['/a', 'b'.repeat(4097)] }] },
      /"upstream\.processes\[0\]\.files\[1\]"/,
    ],
    [
      { kind: 'local', processes: [{ pid: 1, exe: null, files: Array(257).fill('/a') }] },
      /"upstream\.processes\[0\]\.files"/,
    ],
  ];
  for (const [upstream, names] of cases) {
    const r = await host.quote({ telemetryTool: null, edit: (b) => (b.upstream = upstream) });
    assert.equal(r.status, 400, JSON.stringify(upstream).slice(0, 80));
    const err = r.json as { error: { code: string; message: string } };
    assert.equal(err.error.code, 'BODY_MALFORMED');
    assert.match(err.error.message, names);
  }
});

test('upstream or telemetryTool changed after the quote (between agent and verifier) fails quote.nonce: the quote covers them', async () => {
  const local = engine(['/models/big.gguf']);
  const swaps: [string, (b: Record<string, unknown>) => void][] = [
    ['upstream replaced', (b) => (b.upstream = engine(['/models/big.gguf'], '/usr/bin/other'))],
    ['upstream added', (b) => (b.upstream = local)],
    ['telemetryTool changed', (b) => (b.telemetryTool = '/usr/bin/nvidia-smi')],
  ];
  for (const [what, tamper] of swaps) {
    await host.serve(1, 'big-model');
    const r = await host.quote({
      telemetryTool: null,
      ...(what === 'upstream added' ? {} : { edit: (b) => (b.upstream = local) }),
      tamper,
    });
    assert.equal(r.status, 422, what);
    // host.boot fails on every quote of this scripted host (it sends no boot log): recorded, not refused.
    const failed = (r.json.checks as Check[]).filter((c) => c.status === 'fail' && c.name !== 'host.boot');
    assert.deepEqual(
      failed.map((c) => `${c.name}:${c.code}`),
      ['quote.nonce:QUOTE_NONCE_MISMATCH'],
      what,
    );
  }
  // Untouched, the same host's next quote is accepted.
  await host.serve(1, 'big-model');
  const ok = await host.quote({ telemetryTool: null, edit: (b) => (b.upstream = local) });
  assert.equal(ok.status, 200, JSON.stringify(ok.json));
});
