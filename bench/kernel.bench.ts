/**
 * Kernel IMA appraisal on the verifier (issue 8): one quote's 1,000-entry kernel delta, and a
 * 300,000-entry first appraisal, each parsed, replayed to the quoted PCR 10, folded against a
 * Keylime policy and the registry, and turned into a segment (appraiseKernel); baseline: the
 * bare replay of the same bytes (parse + advanceIma) in the same run.
 *
 * What is measured: `delta_1000_p50_ms` is the median over 50 quotes of one appraiseKernel
 * call on a 1,000-entry delta (entries 10,000 + 1,000k of a 61,000-entry ima-ng log, policy
 * made from the whole log, empty registry): base64-decoded bytes in, checks and segment out.
 * Its baseline is parseBinaryLog + advanceIma (objects, no fold, no template-hash check) on
 * the same bytes, timed just before. `first_300k_ms` is the median of 5 first appraisals of a
 * 300,000-entry log against its bare replay. The `_ratio` lines divide the two: compare those
 * across runs, not the milliseconds (the machine is shared). appraiseKernel also checks each
 * logged SHA-1 template hash, which the bare replay does not. The verifier's compiled lookups
 * (compileKernelRefs and the policy's template digests, once per policy and registry) are
 * built by the first call of each phase, which the medians leave out.
 */

import {
  advanceIma,
  buildEntry,
  compilePolicy,
  createPolicy,
  entryToBinary,
  extendDigest,
  type ImaEntry,
  initialImaState,
  parseBinaryLog,
} from '../packages/core/src/ima/index.ts';
import { concat, sha256, toHex } from '../packages/core/src/index.ts';
import { compileRegistry, parseRegistry } from '../packages/core/src/registry/index.ts';
import { appraiseKernel, type KernelBoot } from '../packages/verifier/src/attest/kernel.ts';
import { generateFields } from '../scripts/ima-gen.ts';
import { type BenchRecord, percentile } from './record.ts';

const zero = new Uint8Array(32);
const pcrs0 = new Map(Array.from({ length: 10 }, (_, i) => [i, zero] as [number, Uint8Array]));
const aggregate = sha256(concat(...Array.from({ length: 10 }, () => zero)));

function host(n: number): { entries: ImaEntry[]; pcrAfter: Uint8Array[] } {
  const entries = [buildEntry({ digest: aggregate, path: 'boot_aggregate' }, 0)];
  for (const f of generateFields({ entries: n - 1, templates: 'ima-ng', violations: 0 }))
    entries.push(buildEntry(f, entries.length));
  let pcr: Uint8Array = new Uint8Array(32);
  const pcrAfter: Uint8Array[] = [];
  for (const e of entries) {
    pcr = sha256(pcr, extendDigest(e, 'sha256'));
    pcrAfter.push(pcr);
  }
  return { entries, pcrAfter };
}

const registry = compileRegistry(parseRegistry({ version: 1, models: {}, engines: {}, agents: [] }));

function appraise(
  prev: KernelBoot | null,
  bytes: Uint8Array,
  from: number,
  pcr10: Uint8Array,
  policy: ReturnType<typeof compilePolicy>,
) {
  const pcrs = new Map(pcrs0);
  pcrs.set(10, pcr10);
  return appraiseKernel({
    prev,
    ev: { kernel: { from, entries: bytes }, boot: null, telemetryTool: null },
    pcrs,
    resetCount: 1,
    size: 1,
    refs: { policy, registry },
  });
}

function bare(prev: KernelBoot | null, bytes: Uint8Array, from: number, pcr10: Uint8Array) {
  const entries = parseBinaryLog(bytes, { firstIndex: from });
  return advanceIma(prev?.ima ?? initialImaState('sha256', 10, 1), {
    startIndex: from,
    entries,
    quotedPcr: pcr10,
    resetCount: 1,
  });
}

const join = (entries: readonly ImaEntry[]) => new Uint8Array(Buffer.concat(entries.map(entryToBinary)));

function time(f: () => unknown): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

export async function* run(): AsyncIterable<BenchRecord> {
  // 300k-entry first appraisal.
  const big = host(300_000);
  const policyBig = compilePolicy(createPolicy(big.entries.slice(1)));
  const bigBytes = join(big.entries);
  const first: number[] = [];
  const firstBare: number[] = [];
  let boot: KernelBoot | null = null;
  for (let i = 0; i < 5; i++) {
    firstBare.push(time(() => bare(null, bigBytes, 0, big.pcrAfter.at(-1)!)));
    first.push(
      time(() => {
        const r = appraise(null, bigBytes, 0, big.pcrAfter.at(-1)!, policyBig);
        if (r.segment.integrity.status !== 'pass') throw new Error(r.segment.integrity.detail);
        boot = r.next;
      }),
    );
  }
  // 1,000-entry deltas on top of a 10,000-entry boot.
  const small = host(61_000);
  const policy = compilePolicy(createPolicy(small.entries.slice(1)));
  const base = 10_000;
  const head = appraise(null, join(small.entries.slice(0, base)), 0, small.pcrAfter[base - 1]!, policy).next!;
  const delta: number[] = [];
  const deltaBare: number[] = [];
  for (let k = 0; k < 50; k++) {
    const from = base + k * 1000;
    const bytes = join(small.entries.slice(from, from + 1000));
    const pcr = small.pcrAfter[from + 999]!;
    const at = {
      ...head,
      ima: { ...head.ima, nextIndex: from, pcr: toHex(small.pcrAfter[from - 1]!) },
      facts: { ...head.facts, entries: from },
    };
    deltaBare.push(time(() => bare(at, bytes, from, pcr)));
    delta.push(time(() => appraise(at, bytes, from, pcr, policy)));
  }
  void boot;
  const s = (a: number[]) => [...a].sort((x, y) => x - y);
  const p50 = percentile(s(delta), 50);
  const p50b = percentile(s(deltaBare), 50);
  const f50 = percentile(s(first), 50);
  const f50b = percentile(s(firstBare), 50);
  yield {
    bench: 'kernel',
    metric: 'delta_1000_p50_ms',
    value: +p50.toFixed(3),
    unit: 'ms',
    baseline: +p50b.toFixed(3),
  };
  yield {
    bench: 'kernel',
    metric: 'delta_1000_ratio',
    value: +(p50 / p50b).toFixed(2),
    unit: 'x',
    baseline: null,
  };
  yield {
    bench: 'kernel',
    metric: 'first_300k_ms',
    value: +f50.toFixed(1),
    unit: 'ms',
    baseline: +f50b.toFixed(1),
  };
  yield {
    bench: 'kernel',
    metric: 'first_300k_ratio',
    value: +(f50 / f50b).toFixed(2),
    unit: 'x',
    baseline: null,
  };
}
