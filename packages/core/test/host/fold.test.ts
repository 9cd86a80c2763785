import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  emptyKernelFacts,
  foldKernel,
  type HostSegment,
  type HostSegments,
  recordSegment,
  segmentFor,
  segmentOf,
} from '../../src/host/index.ts';
import { buildEntry, type ImaEntry } from '../../src/ima/index.ts';
import { sha256, toHex, utf8 } from '../../src/index.ts';
import { compileRegistry, parseRegistry } from '../../src/registry/index.ts';

// The kernel-log fold: any sequence of allowed entries passes; one foreign entry anywhere fails
// from its index on; receipts are judged by the first quote above them, never retroactively.

const d = (label: string) => sha256(utf8(label));
const h = (label: string) => `sha256:${toHex(d(label))}`;
const registry = compileRegistry(
  parseRegistry({
    version: 1,
    models: { big: { weights: [h('big')] }, 'sample-1b': { weights: [h('small')] } },
    engines: { llama: { executables: [h('llama')] } },
    agents: [],
    agentBuilds: { [h('build')]: { files: { 'agent/src/agent.ts': h('agent'), 'core/src/x.ts': h('x') } } },
    tools: { 'nvidia-smi': [h('smi')] },
  }),
);
const refs = { policy: null, registry };
const AGG = toHex(d('pcrs'));
const ALLOWED: [string, string][] = [
  ['/opt/packages/agent/src/agent.ts', 'agent'],
  ['/opt/packages/core/src/x.ts', 'x'],
  ['/usr/bin/llama', 'llama'],
  ['/m/big.gguf', 'big'],
  ['/usr/bin/nvidia-smi', 'smi'],
];

function log(files: [string, string][]): ImaEntry[] {
  const out = [buildEntry({ digest: d('pcrs'), path: 'boot_aggregate' }, 0)];
  for (const [path, label] of files) out.push(buildEntry({ digest: d(label), path }, out.length));
  return out;
}

const fold = (entries: ImaEntry[], facts = emptyKernelFacts()) =>
  foldKernel(facts, entries, refs, { bootAggregate: AGG, toolPath: '/usr/bin/nvidia-smi' });

test('any sequence of allowed entries passes, folded at once or in any split', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...ALLOWED), { maxLength: 30 }), fc.nat(31), (files, cut) => {
      const entries = log(files);
      const whole = fold(entries);
      assert.equal(whole.failure, null);
      assert.equal(whole.aggregate, true);
      const split = fold(entries.slice(Math.min(cut, entries.length)), fold(entries.slice(0, cut)));
      assert.deepEqual(split, whole);
    }),
  );
});

test('one foreign entry anywhere fails from its index on, and stays failed', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...ALLOWED), { maxLength: 20 }), fc.nat(20), (files, at) => {
      const i = Math.min(at, files.length);
      const entries = log([...files.slice(0, i), ['/tmp/evil', 'evil'], ...files.slice(i)]);
      const before = fold(entries.slice(0, i + 1));
      assert.equal(before.failure, null);
      const after = fold(entries.slice(i + 1), before);
      assert.equal(after.failure?.index, i + 1);
      assert.equal(after.failure?.code, 'HOST_FILE_NOT_ALLOWED');
      assert.equal(after.failure?.path, '/tmp/evil');
      // Another allowed entry later does not clear it.
      assert.equal(fold(log([...files, ...ALLOWED]).slice(entries.length), after).failure?.index, i + 1);
    }),
  );
});

test('a wrong boot_aggregate, a late simulated-kernel event and a patched agent file are named', () => {
  assert.equal(
    foldKernel(emptyKernelFacts(), log([]), refs, { bootAggregate: '00', toolPath: null }).failure?.code,
    'BOOT_AGGREGATE_MISMATCH',
  );
  const buf = utf8('{"simulated":true,"version":1}');
  const sim = (i: number) =>
    buildEntry({ template: 'ima-buf', digest: sha256(buf), path: 'tmb.simulated-kernel', extra: buf }, i);
  assert.equal(fold([...log([]), sim(1)]).kind, 'simulated');
  assert.equal(fold([...log([ALLOWED[0]!]), sim(2)]).failure?.index, 2);
  const patched = fold(log([['/srv/packages/agent/src/agent.ts', 'patched']]));
  assert.equal(patched.agentFailure?.code, 'AGENT_BUILD_NOT_ALLOWED');
  assert.equal(patched.agentEntry, false);
});

test('weights owners, engines and tools are recorded from registry digests', () => {
  const f = fold(log([...ALLOWED, ['/m/small.gguf', 'small']]));
  assert.deepEqual(f.weights, [h('big'), h('small')]);
  assert.deepEqual(f.engines, ['llama']);
  assert.equal(f.tools['/usr/bin/nvidia-smi'], h('smi'));
  assert.equal(f.agentEntry, true);
});

const seg = (size: number, ok: boolean): HostSegment =>
  segmentOf({
    size,
    resetCount: 1,
    facts: ok ? fold(log(ALLOWED)) : fold(log([...ALLOWED, ['/tmp/evil', 'evil']])),
    boot: { status: 'pass', detail: '', kind: 'simulated', secureBoot: null },
    registry,
  });

test('segments: a receipt is judged by the first quote above it; equal states merge; bounded', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.boolean()), { minLength: 1, maxLength: 30 }),
      (steps) => {
        let s: HostSegments = { segments: [], dropped: 0 };
        const quotes: { size: number; ok: boolean }[] = [];
        let size = 0;
        for (const [grow, ok] of steps) {
          size += grow;
          quotes.push({ size, ok });
          s = recordSegment(s, seg(size, ok), 8);
        }
        assert.ok(s.segments.length <= 8);
        for (let seq = 0; seq < size + 2; seq++) {
          const want = quotes.find((q) => q.size > seq);
          const got = segmentFor(s, seq);
          if (want === undefined) assert.equal(got, 'pending');
          else if (seq < s.dropped) assert.equal(got, 'dropped');
          else assert.equal(typeof got !== 'string' && got.integrity.status === 'pass', want.ok);
        }
      },
    ),
  );
});
