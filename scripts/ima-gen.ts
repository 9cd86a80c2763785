/**
 * Realistic IMA measurement lists for tests and benchmarks: seeded, any length, both forms.
 *
 *   node scripts/ima-gen.ts --entries 1000 [--seed 7] [--templates mixed|ima-ng] [--violations 0.002]
 *        [--files N] [--reuse 0..1] [--format binary|ascii] [--out FILE]
 *
 * The first entry is boot_aggregate, as in a kernel log. Then each entry measures a file from a
 * pool of `files` paths (standard system directories, model and agent directories, non-ASCII
 * and long names): new files until the pool is full, then files measured again after a change,
 * with a new digest (or, with probability `reuse`, a digest it had before). `mixed` logs hold
 * ima-ng (~70%), ima-sig with and without signatures (~15%), ima-buf keyring keys and events
 * (~10%) and legacy ima entries (~5%), with sha1, sha256, sha384 and sha512 file digests.
 * Violations have an all-zero template hash and file digest, on log and temp paths, as the
 * kernel writes them. Digests are random: the log is well-formed, not a real file system.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  buildEntry,
  type EntryFields,
  entryToAscii,
  entryToBinary,
  type FileDigestAlg,
  type ImaEntry,
} from '../packages/core/src/ima/index.ts';

/** Generator options; every one has a default. */
export interface GenerateOptions {
  entries: number;
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Default `mixed`. */
  templates?: 'mixed' | 'ima-ng';
  /** Fraction of entries that are violations. Default 0.002 (mixed) or 0 (ima-ng). */
  violations?: number;
  /** Distinct paths. Default min(entries, 50,000). */
  files?: number;
  /** Chance that a re-measured file shows a digest it had before. Default 0. */
  reuse?: number;
  /** PCR index. Default 10. */
  pcr?: number;
}

const DIRS = [
  '/usr/bin',
  '/usr/sbin',
  '/usr/lib64',
  '/usr/lib/x86_64-linux-gnu',
  '/usr/libexec/platform-python',
  '/etc',
  '/etc/systemd/system',
  '/opt/models/llama-3.1-8b-instruct',
  '/opt/models/qwen2.5-7b/safetensors',
  '/opt/tmb/agent/packages/core/src',
  '/usr/local/lib/python3.12/site-packages/vllm',
  '/home/αλέξης/bin',
  '/srv/模型/权重',
  '/usr/share/zoneinfo/América',
  '/var/lib/containers/storage/overlay/9f1c/diff/usr/lib',
];
const STEMS = [
  'bash',
  'ls',
  'systemd',
  'libc',
  'libssl',
  'python3',
  'llama-server',
  'node',
  'libcuda',
  'ld-linux',
  'model',
  'config',
  'tokenizer',
  'żółw',
  'naïve',
  'データ',
];
const EXTS = ['', '.so', '.so.6', '.so.3.0.13', '.py', '.json', '.gguf', '.safetensors', '.conf', '.pyc'];
const VIOLATION_DIRS = ['/var/log', '/tmp', '/var/lib/rsyslog', '/run/user/1000'];
const ALGS: FileDigestAlg[] = ['sha256', 'sha256', 'sha256', 'sha256', 'sha1', 'sha384', 'sha512'];
const SIZES: Record<FileDigestAlg, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
const BUF_EVENTS = ['kexec-cmdline', 'dm_table_load', 'selinux-state', 'selinux-policy-hash'];

/** xorshift32: fast, seeded, good enough to vary a test log. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/** The entries' fields, in order, without encoding them. */
export function* generateFields(options: GenerateOptions): Generator<EntryFields> {
  const rand = prng(options.seed ?? 1);
  const mixed = (options.templates ?? 'mixed') === 'mixed';
  const vRate = options.violations ?? (mixed ? 0.002 : 0);
  const poolSize = Math.max(1, options.files ?? Math.min(options.entries, 50_000));
  const reuse = options.reuse ?? 0;
  const pcr = options.pcr ?? 10;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const bytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
    return b;
  };
  const pool: { path: string; legacy: boolean; digests: Uint8Array[]; alg: FileDigestAlg }[] = [];
  if (options.entries <= 0) return;
  yield { pcr, digest: bytes(32), path: 'boot_aggregate' };
  for (let i = 1; i < options.entries; i++) {
    if (rand() < vRate) {
      yield {
        pcr,
        digest: new Uint8Array(32),
        path: `${pick(VIOLATION_DIRS)}/messages.${i}`,
        violation: true,
      };
      continue;
    }
    const t = mixed ? rand() : 0;
    if (t >= 0.85 && t < 0.95) {
      const key = rand() < 0.5;
      const buf = key ? Uint8Array.of(0x30, 0x82, ...bytes(30)) : bytes(8 + Math.floor(rand() * 40));
      yield {
        pcr,
        template: 'ima-buf',
        digestAlg: 'sha256',
        digest: bytes(32),
        path: key ? pick(['.ima', '.evm', '.builtin_trusted_keys']) : pick(BUF_EVENTS),
        extra: buf,
      };
      continue;
    }
    let file = pool.length < poolSize ? undefined : pick(pool);
    if (file === undefined) {
      const deep = rand() < 0.02 ? `/${'deeply/nested'.repeat(1 + Math.floor(rand() * 20))}` : '';
      const path = `${pick(DIRS)}${deep}/${pick(STEMS)}-${pool.length}${pick(EXTS)}`;
      const legacy = mixed && t >= 0.95 && new TextEncoder().encode(path).length <= 255;
      file = { path, legacy, digests: [], alg: legacy ? 'sha1' : mixed ? pick(ALGS) : 'sha256' };
      pool.push(file);
    }
    const digest = file.digests.length > 0 && rand() < reuse ? pick(file.digests) : bytes(SIZES[file.alg]);
    if (!file.digests.includes(digest)) file.digests.push(digest);
    if (file.legacy) {
      yield { pcr, template: 'ima', digest, path: file.path };
    } else if (t >= 0.7 && t < 0.85) {
      const sig =
        rand() < 0.5
          ? new Uint8Array(0)
          : Uint8Array.of(0x03, 0x02, 0x04, ...bytes(4), 0x01, 0x00, ...bytes(256));
      yield { pcr, template: 'ima-sig', digestAlg: file.alg, digest, path: file.path, extra: sig };
    } else {
      yield { pcr, template: 'ima-ng', digestAlg: file.alg, digest, path: file.path };
    }
  }
}

/** Built entries (template hashes computed), indexed from 0. */
export function generateEntries(options: GenerateOptions): ImaEntry[] {
  const out: ImaEntry[] = [];
  for (const f of generateFields(options)) out.push(buildEntry(f, out.length));
  return out;
}

/** The binary list (little-endian), built without keeping the entries. */
export function generateBinary(options: GenerateOptions): Uint8Array {
  const parts: Uint8Array[] = [];
  let n = 0;
  for (const f of generateFields(options)) {
    const b = entryToBinary(buildEntry(f));
    parts.push(b);
    n += b.length;
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The ASCII list. */
export function generateAscii(options: GenerateOptions): string {
  let s = '';
  for (const f of generateFields(options)) s += entryToAscii(buildEntry(f));
  return s;
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      entries: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1' },
      templates: { type: 'string', default: 'mixed' },
      violations: { type: 'string' },
      files: { type: 'string' },
      reuse: { type: 'string' },
      format: { type: 'string', default: 'binary' },
      out: { type: 'string' },
    },
  });
  if (values.templates !== 'mixed' && values.templates !== 'ima-ng')
    throw new Error('--templates is mixed or ima-ng');
  const options: GenerateOptions = {
    entries: Number(values.entries),
    seed: Number(values.seed),
    templates: values.templates,
    ...(values.violations !== undefined ? { violations: Number(values.violations) } : {}),
    ...(values.files !== undefined ? { files: Number(values.files) } : {}),
    ...(values.reuse !== undefined ? { reuse: Number(values.reuse) } : {}),
  };
  const data =
    values.format === 'ascii' ? new TextEncoder().encode(generateAscii(options)) : generateBinary(options);
  if (values.out === undefined) process.stdout.write(data);
  else writeFileSync(values.out, data);
}
