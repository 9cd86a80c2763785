import { HASH_SIZE } from '../crypto/hash.ts';
import type { ImaColumns } from '../ima/columns.ts';
import { hashLatin1 } from '../ima/hashing.ts';
import { EXCLUDED, failureDetail, judge, PASSED } from '../ima/judge.ts';
import { FILE_DIGEST_ALGS, TEMPLATES } from '../ima/types.ts';
import { DigestSet } from './digest-set.ts';
import {
  AGENT_ENTRY_FILE,
  agentRel,
  type FoldOptions,
  foldEntry,
  MAX_LISTED,
  SIMULATED_KERNEL_EVENT,
  setTool,
  setWeightPath,
} from './fold.ts';
import type { KernelFacts, KernelRefs } from './types.ts';

// foldKernel() over columns, for the verifier's hot path: the same rule (fold.ts) per entry,
// without an ImaEntry per entry, a closure per entry, or an `<algo>:<hex>` string per entry.
// The registry's three digest maps are merged once per registry (compileKernelRefs) into one
// map per digest algorithm keyed by bare hex, so an entry costs one hex cut and one lookup;
// the `<algo>:<hex>` form is built only for what the facts keep. Entry 0 and the simulated
// kernel's event go through foldEntry itself. Measured on the 2-core dev box (1,000-entry
// deltas, 21,000-entry policy, --cpu-prof): appraiseKernel 2.13 -> 1.66 ms a delta; what is
// left is the policy's Map lookups by path (memory-bound) and the replay's hashes. A property test
// (test/host/fold-columns.test.ts) checks both folds give equal facts on generated logs.

/** What the registry allows a digest as (foldEntry's order: weights, then engines, then tools). */
interface Owner {
  weight: boolean;
  engines: readonly string[] | undefined;
  tool: boolean;
}

/** KernelRefs compiled for foldKernelColumns: build once per policy and registry, not per quote. */
export interface KernelLookups {
  refs: KernelRefs;
  /** Index FILE_DIGEST_ALGS: bare hex digest to its owner; undefined when none has that algorithm. */
  owners: (Map<string, Owner> | undefined)[];
  /**
   * SHA-256 (latin1) of the ima-ng template data of every (path, digest) pair that the policy
   * allows and the registry leaves alone (no agent-build path, no registered digest): an
   * ima-ng entry of PCR 10 whose template digest, which the replay computed, is here passes
   * with no path or hex string cut. Built on first use (one hash per policy digest).
   */
  plain: DigestSet | null;
}

/** Compiles the reference values for foldKernelColumns (pure). */
export function compileKernelRefs(refs: KernelRefs): KernelLookups {
  const owners: (Map<string, Owner> | undefined)[] = FILE_DIGEST_ALGS.map(() => undefined);
  const reg = refs.registry;
  const at = (digest: string): Owner | null => {
    const colon = digest.indexOf(':');
    const alg = FILE_DIGEST_ALGS.indexOf(digest.slice(0, colon) as (typeof FILE_DIGEST_ALGS)[number]);
    if (colon < 0 || alg < 0) return null; // no entry can show this digest: it never matches
    const m = owners[alg] ?? new Map<string, Owner>();
    owners[alg] = m;
    const hex = digest.slice(colon + 1);
    const known = m.get(hex);
    if (known !== undefined) return known;
    const o: Owner = { weight: false, engines: undefined, tool: false };
    m.set(hex, o);
    return o;
  };
  if (reg !== null) {
    for (const d of reg.weightOwners.keys()) {
      const o = at(d);
      if (o !== null) o.weight = true;
    }
    for (const [d, names] of reg.engineOwners) {
      const o = at(d);
      if (o !== null) o.engines = names;
    }
    for (const d of reg.toolOwners.keys()) {
      const o = at(d);
      if (o !== null) o.tool = true;
    }
  }
  return { refs, owners, plain: null };
}

const encoder = new TextEncoder();

/** The template digests foldKernelColumns may pass at once (KernelLookups.plain). */
function plainDigests(l: KernelLookups): DigestSet {
  const { policy, registry: reg } = l.refs;
  let n = 0;
  if (policy !== null) for (const path in policy.policy.digests) n += policy.policy.digests[path]!.length;
  const out = new DigestSet(n);
  if (policy === null) return out;
  for (const path in policy.policy.digests) {
    // A path the decoder could not give back (lone surrogates), or in an agent build tree,
    // takes the slow path.
    if (!path.isWellFormed() || (reg !== null && agentRel(path, reg.agentTrees) !== null)) continue;
    const name = encoder.encode(path);
    const scratch: (Uint8Array | undefined)[] = [];
    for (const hex of policy.policy.digests[path]!) {
      const a = ALG_BY_HEX_LENGTH.get(hex.length);
      // judge compares lower-case hex: another case or length never matches an entry.
      if (a === undefined || l.owners[a]?.has(hex)) continue;
      const alg = FILE_DIGEST_ALGS[a]!;
      let data = scratch[a];
      if (data === undefined) {
        data = imaNgData(alg, name);
        scratch[a] = data;
      }
      if (putHex(data, 4 + alg.length + 2, hex)) out.add(hashLatin1('sha256', data));
    }
  }
  return out;
}

const ALG_BY_HEX_LENGTH = new Map(FILE_DIGEST_ALGS.map((a, i) => [2 * HASH_SIZE[a], i]));

/**
 * ima-ng template data (docs/ima.md, "Binary form") for `alg` and `name`, with room for the
 * digest after `<alg>:\0`; the same bytes as layout.ts writeTemplateData (a test checks it).
 */
function imaNgData(alg: string, name: Uint8Array): Uint8Array {
  const size = HASH_SIZE[alg as (typeof FILE_DIGEST_ALGS)[number]];
  const d = alg.length + 2 + size;
  const out = new Uint8Array(4 + d + 4 + name.length + 1);
  const view = new DataView(out.buffer);
  view.setUint32(0, d, true); // little-endian, as the kernel writes on x86
  for (let i = 0; i < alg.length; i++) out[4 + i] = alg.charCodeAt(i);
  out[4 + alg.length] = 0x3a; // ':' then NUL
  view.setUint32(4 + d, name.length + 1, true);
  out.set(name, 4 + d + 4); // then the NUL the array starts with
  return out;
}

/** Writes lower-case hex into out at `at`; false when it is not lower-case hex. */
function putHex(out: Uint8Array, at: number, hex: string): boolean {
  for (let i = 0; i < hex.length; i += 2) {
    const hi = nibble(hex.charCodeAt(i));
    const lo = nibble(hex.charCodeAt(i + 1));
    if (hi < 0 || lo < 0) return false;
    out[at + i / 2] = (hi << 4) | lo;
  }
  return true;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

const IMA_BUF = TEMPLATES.indexOf('ima-buf');
const IMA_NG = TEMPLATES.indexOf('ima-ng');

/**
 * foldKernel() over columns: folds columns [0, count) of PCR `pcrIndex` (advanceImaColumns'
 * `covered`; entries of other PCRs are skipped, as advanceIma's `accepted` omits them) into
 * new facts. Same facts as foldKernel over the same entries. Never throws for bad entries.
 */
export function foldKernelColumns(
  facts: KernelFacts,
  cols: ImaColumns,
  count: number,
  lookups: KernelLookups,
  o: FoldOptions & {
    pcrIndex: number;
    /** advanceImaColumns' sha256 template digests (its `digests` option), when it kept them. */
    digests?: readonly string[];
  },
): KernelFacts {
  const f: KernelFacts = structuredClone(facts);
  f.weightPaths ??= {}; // states stored before it
  if (o.toolPath !== null) f.toolPath = o.toolPath;
  const { refs, owners } = lookups;
  const reg = refs.registry;
  const policy = refs.policy;
  const n = Math.min(count, cols.length);
  const source = { digest: '' };
  const digests = o.digests;
  let plain: DigestSet | null = null;
  if (digests !== undefined && policy !== null && o.pcrIndex === 10) {
    lookups.plain ??= plainDigests(lookups);
    plain = lookups.plain;
  }
  const toolLength = f.toolPath === null ? -1 : encoder.encode(f.toolPath).length;
  // Byte lengths of the paths weightPaths holds: an entry of such a length takes the slow path,
  // where a new measurement of the path replaces the old. A fast-path entry's path is well-formed
  // UTF-8 (the policy's), so its length equals its decoded string's encoded length.
  const weightLengths = new Set<number>();
  for (const p in f.weightPaths) weightLengths.add(encoder.encode(p).length);
  for (let i = 0; i < n; i++) {
    if (cols.pcr[i] !== o.pcrIndex) continue;
    const index = cols.firstIndex + i;
    if (index < f.entries) continue;
    f.entries = index + 1;
    const template = cols.template[i]!;
    // The fast path: what foldEntry would do for an allowed plain file is nothing at all.
    if (
      plain !== null &&
      template === IMA_NG &&
      index !== 0 &&
      cols.violation[i] === 0 &&
      cols.pathLength[i] !== toolLength &&
      !weightLengths.has(cols.pathLength[i]!) &&
      plain.has(digests![i]!)
    )
      continue;
    const path = cols.path(i);
    if (index === 0 || (template === IMA_BUF && path === SIMULATED_KERNEL_EVENT)) {
      foldEntry(f, cols.entry(i), refs, o);
      continue;
    }
    const violation = cols.violation[i] === 1;
    const alg = cols.digestAlg[i]!;
    const hex = cols.digest(i);
    if (f.toolPath !== null && path === f.toolPath) setTool(f, path, `${FILE_DIGEST_ALGS[alg]}:${hex}`);
    if (Object.hasOwn(f.weightPaths, path)) Reflect.deleteProperty(f.weightPaths, path);
    if (!violation && reg !== null) {
      const rel = agentRel(path, reg.agentTrees);
      if (rel !== null) {
        const digest = `${FILE_DIGEST_ALGS[alg]}:${hex}`;
        if (reg.agentFiles.get(rel)?.has(digest)) {
          if (rel === AGENT_ENTRY_FILE) f.agentEntry = true;
          continue;
        }
        f.agentFailure ??= {
          index,
          path,
          digest,
          code: 'AGENT_BUILD_NOT_ALLOWED',
          detail: `#${index} ${path} ${digest}: no allowed agent build has this file (${rel})`,
        };
      } else {
        const owner = owners[alg]?.get(hex);
        if (owner !== undefined) {
          const digest = `${FILE_DIGEST_ALGS[alg]}:${hex}`;
          if (owner.weight) {
            if (!f.weights.includes(digest) && f.weights.length < MAX_LISTED) f.weights.push(digest);
            if (setWeightPath(f, path, digest)) weightLengths.add(cols.pathLength[i]!);
          } else if (owner.engines !== undefined) {
            for (const e of owner.engines)
              if (!f.engines.includes(e) && f.engines.length < MAX_LISTED) f.engines.push(e);
          } else setTool(f, path, digest);
          continue;
        }
      }
    }
    if (f.failure !== null) continue; // the first failure is what the verdict names
    let code: Parameters<typeof failureDetail>[0] | 'HOST_FILE_NOT_ALLOWED';
    let why: string;
    if (policy === null) {
      code = 'HOST_FILE_NOT_ALLOWED';
      why = violation
        ? 'violation entry (all-zero template hash): its content is not measured'
        : 'neither the runtime policy nor the registry allows it';
    } else {
      source.digest = hex;
      const pcr = cols.pcr[i]!;
      const v = judge(policy, 10, false, pcr, TEMPLATES[template]!, violation, path, source);
      if (v === PASSED || v === EXCLUDED) continue;
      code = v;
      why = `${failureDetail(v, pcr, 10)}, and the registry does not allow it`;
    }
    const digest = `${FILE_DIGEST_ALGS[alg]}:${hex}`;
    f.failure = { index, path, digest, code, detail: `#${index} ${path} ${digest}: ${why}` };
  }
  return f;
}
