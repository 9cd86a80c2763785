import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  compileKernelRefs,
  emptyKernelFacts,
  foldKernel,
  foldKernelColumns,
  MAX_LISTED,
  segmentOf,
  type UpstreamEvidence,
  upstreamCheck,
  upstreamSegment,
} from '../../src/host/index.ts';
import {
  buildEntry,
  compilePolicy,
  createPolicy,
  encodeBinaryLog,
  type ImaEntry,
  parseBinaryColumns,
} from '../../src/ima/index.ts';
import { sha256, toHex, utf8 } from '../../src/index.ts';
import { compileRegistry, parseRegistry } from '../../src/registry/index.ts';
import { L0_CHECKS, L1_CHECKS, levelOf } from '../../src/verdict/level.ts';
import type { Check } from '../../src/verdict/types.ts';

// Kernel facts keep the path each registered weights digest was last measured at, and
// host.upstream judges the agent's upstream against them (docs/result.md, docs/upstream.md).

const d = (label: string) => sha256(utf8(label));
const h = (label: string) => `sha256:${toHex(d(label))}`;
const registry = compileRegistry(
  parseRegistry({
    version: 1,
    models: { big: { weights: [h('big')] }, small: { weights: [h('small')] } },
    engines: { llama: { executables: [h('llama')] } },
    agents: [],
    tools: {},
  }),
);
const refs = { policy: null, registry };
const AGG = toHex(d('pcrs'));

function log(files: [string, string][]): ImaEntry[] {
  const out = [buildEntry({ digest: d('pcrs'), path: 'boot_aggregate' }, 0)];
  for (const [path, label] of files) out.push(buildEntry({ digest: d(label), path }, out.length));
  return out;
}
const fold = (files: [string, string][]) =>
  foldKernel(emptyKernelFacts(), log(files), refs, { bootAggregate: AGG, toolPath: null });

test('kernel facts keep the path of each registered weights measurement, the last one per path', () => {
  const f = fold([
    ['/usr/bin/llama', 'llama'],
    ['/m/big.gguf', 'big'],
    ['/m/small.gguf', 'small'],
    ['/m/swap.gguf', 'small'],
    ['/m/swap.gguf', 'big'],
  ]);
  assert.deepEqual(f.weightPaths, {
    '/m/big.gguf': h('big'),
    '/m/small.gguf': h('small'),
    '/m/swap.gguf': h('big'),
  });
  assert.deepEqual(f.weights, [h('big'), h('small')]);
  // A later measurement of the path that is not registered weights removes it (here it also fails host.integrity).
  const g = fold([
    ['/m/big.gguf', 'big'],
    ['/m/big.gguf', 'rewritten'],
  ]);
  assert.deepEqual(g.weightPaths, {});
  // Bounded.
  const many = fold(
    Array.from({ length: MAX_LISTED + 5 }, (_, i): [string, string] => [`/m/${i}.gguf`, 'big']),
  );
  assert.equal(Object.keys(many.weightPaths).length, MAX_LISTED);
  // A state stored before weightPaths existed folds on from {}.
  const { weightPaths: _, ...old } = emptyKernelFacts();
  const more = foldKernel(old as ReturnType<typeof emptyKernelFacts>, log([['/m/big.gguf', 'big']]), refs, {
    bootAggregate: AGG,
    toolPath: null,
  });
  assert.deepEqual(more.weightPaths, { '/m/big.gguf': h('big') });
});

test('the columns fold drops a weights path re-measured with a policy-allowed digest, as foldKernel does', () => {
  const entries = log([
    ['/m/big.gguf', 'big'],
    ['/usr/bin/true', 'true'],
    ['/m/big.gguf', 'rewritten'],
  ]);
  const policy = compilePolicy(createPolicy(entries.slice(1)));
  const r = { policy, registry };
  const o = { bootAggregate: AGG, toolPath: null };
  const objects = foldKernel(emptyKernelFacts(), entries, r, o);
  const cols = foldKernelColumns(
    emptyKernelFacts(),
    parseBinaryColumns(encodeBinaryLog(entries)),
    entries.length,
    compileKernelRefs(r),
    // The replay's template digests: the fast path is open to every policy-allowed entry.
    {
      ...o,
      pcrIndex: 10,
      digests: entries.map((e) => Buffer.from(sha256(e.templateData)).toString('latin1')),
    },
  );
  assert.deepEqual(objects.weightPaths, {});
  assert.deepEqual(cols, objects);
});

const facts = fold([
  ['/m/big.gguf', 'big'],
  ['/m/small.gguf', 'small'],
]);
const local = (files: string[], exe = '/usr/bin/llama'): UpstreamEvidence => ({
  kind: 'local',
  processes: [{ pid: 42, exe, files }],
});
const check = (u: UpstreamEvidence | null, model: string | null = 'big') =>
  upstreamCheck(model, upstreamSegment(u, facts), registry);

test('host.upstream: pass, each failure code, and skipped', () => {
  const pass = check(local(['/lib/libc.so.6', '/m/big.gguf']));
  assert.equal(pass.status, 'pass', pass.detail);
  assert.equal(pass.name, 'host.upstream');
  const remote = check({ kind: 'remote', reason: 'remote host 10.0.0.9', processes: [] });
  assert.deepEqual([remote.status, remote.code], ['fail', 'UPSTREAM_NOT_LOCAL']);
  assert.match(remote.detail, /10\.0\.0\.9/);
  const none = check({ kind: 'none', reason: 'no-listener: nothing listens', processes: [] });
  assert.deepEqual([none.status, none.code], ['fail', 'UPSTREAM_NOT_LOCAL']);
  assert.match(none.detail, /no-listener/);
  // A relay, or a server of another host: no held file is weights this kernel measured.
  const relay = check(local(['/usr/lib/libssl.so.3'], '/usr/bin/socat'));
  assert.deepEqual([relay.status, relay.code], ['fail', 'UPSTREAM_WEIGHTS_NOT_MEASURED']);
  assert.match(relay.detail, /socat/);
  // Held at a path the kernel never measured, or unlinked: not measured.
  for (const f of ['/other/big.gguf', '/m/big.gguf (deleted)']) {
    const c = check(local([f]));
    assert.deepEqual([c.status, c.code], ['fail', 'UPSTREAM_WEIGHTS_NOT_MEASURED'], f);
  }
  const other = check(local(['/m/big.gguf', '/m/small.gguf']));
  assert.deepEqual([other.status, other.code], ['fail', 'UPSTREAM_WEIGHTS_NOT_ALLOWED']);
  assert.match(other.detail, /weights of small/);
  const unknown = check(local(['/m/big.gguf']), 'gpt-9');
  assert.deepEqual([unknown.status, unknown.code], ['fail', 'MODEL_UNKNOWN']);
  assert.equal(check(local(['/m/big.gguf']), null).status, 'skipped');
  assert.equal(check(null).status, 'skipped');
  assert.equal(
    upstreamCheck('big', undefined, registry).status,
    'skipped',
    'a segment stored before upstream',
  );
});

test('segmentOf keeps the held measured weights; the level: fail caps below L1, skipped does not', () => {
  const seg = segmentOf({
    size: 3,
    resetCount: 1,
    facts,
    boot: { status: 'pass', detail: 'ok', kind: 'simulated', secureBoot: null },
    registry,
    upstream: local(['/m/small.gguf', '/m/big.gguf', '/tmp/x']),
  });
  assert.deepEqual(seg.upstream, {
    kind: 'local',
    exes: ['/usr/bin/llama'],
    weights: [
      ['/m/big.gguf', h('big')],
      ['/m/small.gguf', h('small')],
    ],
  });
  const base: Check[] = [...L0_CHECKS, ...L1_CHECKS, 'weights.allowed'].map(
    (name): Check => ({ name, status: 'pass', detail: '' }),
  );
  const up = (status: Check['status']): Check => ({ name: 'host.upstream', status, detail: '' });
  assert.equal(levelOf([...base, up('pass')]), 'L1');
  assert.equal(levelOf([...base, up('skipped')]), 'L1');
  assert.equal(levelOf([...base, up('fail')]), 'L0');
});
