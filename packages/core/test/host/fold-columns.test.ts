import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { generateFields } from '../../../../scripts/ima-gen.ts';
import { DigestSet } from '../../src/host/digest-set.ts';
import { compileKernelRefs, emptyKernelFacts, foldKernel, foldKernelColumns } from '../../src/host/index.ts';
import {
  advanceIma,
  advanceImaColumns,
  buildEntry,
  compilePolicy,
  createPolicy,
  encodeBinaryLog,
  extendDigest,
  type ImaEntry,
  initialImaState,
  parseBinaryColumns,
  parseBinaryLog,
} from '../../src/ima/index.ts';
import { sha256, toHex, utf8 } from '../../src/index.ts';
import { compileRegistry, parseRegistry } from '../../src/registry/index.ts';

// The verifier's fast path (parseBinaryColumns, advanceImaColumns, foldKernelColumns) against
// the object path (parseBinaryLog, advanceIma, foldKernel) on generated kernel logs with
// foreign entries, violations, registered weights (a path re-measured), engines, tools and agent-build files, cut
// into random deltas, with and without a policy and a registry: equal states, checks and facts.

const AGG = sha256(utf8('pcrs 0-9'));
const d = (label: string) => sha256(utf8(label));
const h = (label: string) => `sha256:${toHex(d(label))}`;

function kernelLog(seed: number, n: number, simulated: boolean): ImaEntry[] {
  const out = [buildEntry({ digest: AGG, path: 'boot_aggregate' }, 0)];
  if (simulated) {
    const buf = utf8('{"simulated":true,"version":1}');
    out.push(
      buildEntry({ template: 'ima-buf', digest: sha256(buf), path: 'tmb.simulated-kernel', extra: buf }, 1),
    );
  }
  const extra: [string, string][] = [
    ['/opt/tmb/packages/agent/src/agent.ts', 'agent'],
    ['/opt/tmb/packages/agent/src/x.ts', 'patched'],
    ['/usr/bin/llama', 'llama'],
    ['/m/big.gguf', 'big'],
    ['/m/small.gguf', 'small'],
    ['/m/big.gguf', 'small'], // a weights path measured again with other weights
    ['/m/big.gguf', 'rewritten'], // and with content that is no weights (a policy may allow it)
    ['/usr/bin/nvidia-smi', 'smi'],
    ['/usr/bin/nvidia-smi', 'other smi'],
  ];
  let k = 0;
  for (const f of generateFields({ entries: n, seed, violations: 0.05 })) {
    out.push(buildEntry(f, out.length));
    if ((seed + k++) % 7 === 0) {
      const [path, label] = extra[(seed + Math.floor(k / 7)) % extra.length]!;
      out.push(buildEntry({ digest: d(label), path }, out.length));
    }
  }
  return out;
}

const registry = compileRegistry(
  parseRegistry({
    version: 1,
    models: { big: { weights: [h('big')] }, small: { weights: [h('small')] } },
    engines: { llama: { executables: [h('llama')] } },
    agents: [],
    agentBuilds: { [h('build')]: { files: { 'agent/src/agent.ts': h('agent'), 'agent/src/x.ts': h('x') } } },
    tools: { 'nvidia-smi': [h('smi')] },
  }),
);

test('columns and objects give the same replay state, checks and kernel facts', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 0, max: 120 }),
      fc.boolean(),
      fc.array(fc.nat(200), { maxLength: 4 }),
      fc.constantFrom('none', 'all', 'some'),
      fc.boolean(),
      fc.constantFrom(null, '/usr/bin/nvidia-smi', '/usr/bin/bash'),
      (seed, n, simulated, cuts, policyKind, withRegistry, toolPath) => {
        const log = kernelLog(seed, n, simulated);
        const allowed = policyKind === 'all' ? log.slice(1) : log.slice(1).filter((_, i) => i % 3 !== 0);
        const raw = policyKind === 'none' ? null : createPolicy(allowed);
        // Digests the policy writes in upper case never match (judge compares lower-case hex).
        if (raw !== null && seed % 2 === 0)
          for (const p of Object.keys(raw.digests).slice(0, 5))
            raw.digests[p] = raw.digests[p]!.map((x) => x.toUpperCase());
        const policy = raw === null ? null : compilePolicy(raw);
        const refs = { policy, registry: withRegistry ? registry : null };
        const lookups = compileKernelRefs(refs);
        // The fast path is taken: each allowed ima-ng entry's template digest is held.
        if (policyKind === 'all' && !withRegistry && seed % 2 === 1) {
          foldKernelColumns(
            emptyKernelFacts(),
            parseBinaryColumns(encodeBinaryLog(log.slice(0, 1))),
            0,
            lookups,
            {
              ...{ bootAggregate: '', toolPath: null, pcrIndex: 10 },
              digests: [],
            },
          );
          for (const e of log.slice(1))
            if (e.template === 'ima-ng' && !e.violation)
              assert.ok(lookups.plain?.has(Buffer.from(sha256(e.templateData)).toString('latin1')), e.path);
        }
        const o = { bootAggregate: toHex(AGG), toolPath };
        // The PCR after each entry, so that any cut can be quoted.
        let pcr: Uint8Array = new Uint8Array(32);
        const after = log.map((e) => (pcr = sha256(pcr, extendDigest(e, 'sha256'))));
        const points = [...new Set(cuts.map((c) => 1 + (c % log.length)))].sort((a, b) => a - b);
        if (points.at(-1) !== log.length) points.push(log.length);
        let so = initialImaState('sha256', 10, 1);
        let sc = so;
        let fo = emptyKernelFacts();
        let fcol = fo;
        let from = 0;
        for (const to of points) {
          const bytes = encodeBinaryLog(log.slice(from, to));
          const quoted = after[to - 1]!;
          const ro = advanceIma(so, {
            startIndex: from,
            entries: parseBinaryLog(bytes, { firstIndex: from }),
            quotedPcr: quoted,
            resetCount: 1,
          });
          const columns = parseBinaryColumns(bytes, { firstIndex: from });
          const digests: string[] = [];
          const rc = advanceImaColumns(
            sc,
            { startIndex: from, columns, quotedPcr: quoted, resetCount: 1 },
            { digests, checkTemplateHash: true },
          );
          assert.deepEqual(rc.state, ro.state);
          assert.deepEqual(
            rc.checks.filter((c) => c.name !== 'ima.template'),
            ro.checks,
          );
          assert.equal(
            columns
              .entries()
              .slice(0, rc.covered)
              .filter((e) => e.pcr === 10).length,
            ro.accepted.length,
          );
          fo = foldKernel(fo, ro.accepted, refs, o);
          const slow = foldKernelColumns(fcol, columns, rc.covered, lookups, { ...o, pcrIndex: 10 });
          fcol = foldKernelColumns(fcol, columns, rc.covered, lookups, { ...o, pcrIndex: 10, digests });
          assert.deepEqual(slow, fo);
          assert.deepEqual(fcol, fo);
          so = ro.state;
          sc = rc.state;
          from = to;
        }
      },
    ),
    { numRuns: 60 },
  );
});

test('columns and objects agree when a delta is altered, misplaced or from another boot', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 500 }),
      fc.nat(),
      fc.integer({ min: -2, max: 2 }),
      fc.integer({ min: 0, max: 2 }),
      (seed, flip, shift, reset) => {
        const log = kernelLog(seed, 30, false);
        let pcr: Uint8Array = new Uint8Array(32);
        const after = log.map((e) => (pcr = sha256(pcr, extendDigest(e, 'sha256'))));
        const bytes = encodeBinaryLog(log);
        const altered = Uint8Array.from(bytes);
        altered[flip % altered.length]! ^= 1 << (flip % 8);
        let cols: ReturnType<typeof parseBinaryColumns>;
        let entries: ImaEntry[];
        try {
          entries = parseBinaryLog(altered, { firstIndex: Math.max(0, shift) });
          cols = parseBinaryColumns(altered, { firstIndex: Math.max(0, shift) });
        } catch {
          assert.throws(() => parseBinaryColumns(altered, { firstIndex: Math.max(0, shift) }));
          return;
        }
        const state = { ...initialImaState('sha256', 10, 1), nextIndex: Math.max(0, -shift) };
        const ev = { startIndex: Math.max(0, shift), quotedPcr: after.at(-1)!, resetCount: 1 + reset };
        for (const options of [{}, { maxUnmatchedRounds: 0 }, { strict: true }]) {
          const ro = advanceIma(state, { ...ev, entries }, options);
          const rc = advanceImaColumns(state, { ...ev, columns: cols }, options);
          assert.deepEqual(rc.state, ro.state);
          assert.deepEqual(rc.checks, ro.checks);
          assert.equal(
            cols
              .entries()
              .slice(0, rc.covered)
              .filter((e) => e.pcr === 10).length,
            ro.accepted.length,
          );
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('DigestSet holds exactly what a Set<string> of the same digests holds', () => {
  const digest = fc
    .uint8Array({ minLength: 32, maxLength: 32 })
    .map((b) => Buffer.from(b).toString('latin1'));
  const near = (d: string) => fc.nat(255).map((x) => `${d.slice(0, 31)}${String.fromCharCode(x)}`);
  fc.assert(
    fc.property(
      fc.array(digest, { maxLength: 80 }),
      fc.array(digest, { maxLength: 20 }),
      fc.boolean(),
      (held, other, zero) => {
        const all = zero ? [...held, '\0'.repeat(32)] : held;
        const ds = new DigestSet(all.length);
        for (const d of all) ds.add(d);
        for (const d of all) ds.add(d); // adding twice changes nothing
        const ref = new Set(all);
        assert.equal(ds.size, ref.size);
        for (const d of [...all, ...other, '\0'.repeat(32), 'short'])
          assert.equal(ds.has(d), ref.has(d), JSON.stringify(d));
        for (const d of all.slice(0, 5))
          fc.assert(
            fc.property(near(d), (x) => ds.has(x) === ref.has(x)),
            { numRuns: 20 },
          );
      },
    ),
    { numRuns: 200 },
  );
});
