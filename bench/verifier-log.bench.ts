/**
 * The verifier's rebuilt receipt trees (issue 10): appends per second and memory for 1,000,000
 * leaves with the tree persisted in the store (attest/trees.ts: O(log n) hashes in memory, nodes
 * in SQLite), against core's MemoryTree over the same leaves in the same run (every node in
 * memory, as the verifier kept it before). Also inclusion proofs served per second, persisted vs
 * in memory. TMB_BENCH_VLOG_LEAVES overrides the number of leaves. Memory figures need
 * `node --expose-gc bench/run.ts verifier-log`.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { inclusionProof, leafHash, MemoryTree } from '@tmb/core/log';
import { Trees } from '../packages/verifier/src/attest/trees.ts';
import { SqliteStore } from '../packages/verifier/src/store/sqlite.ts';
import type { BenchRecord } from './record.ts';

const LEAVES = Number(process.env.TMB_BENCH_VLOG_LEAVES ?? 1_000_000);
const AGENT = 'bench-agent';
const RUN = { run: 0, base: 0 };
const mb = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

/** Memory the process retains after a collection (run with --expose-gc): JS heap plus buffers, and RSS. */
function memory(): { retained: number; rss: number } {
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { retained: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

export async function* run(): AsyncGenerator<BenchRecord> {
  const dir = mkdtempSync(join(tmpdir(), 'tmb-bench-vlog-'));
  try {
    const path = join(dir, 'v.db');
    const store = new SqliteStore(path);
    // The leaves as the verifier holds them (log_leaves), written directly: the receipts'
    // bodies are not what is measured.
    const hashes = Array.from({ length: LEAVES }, (_, i) => leafHash(randomBytes(8 + (i % 8))));
    const db = new DatabaseSync(path);
    const put = db.prepare('INSERT INTO log_leaves (agent, seq, hash) VALUES (?, ?, ?)');
    for (let i = 0; i < LEAVES; i += 10_000) {
      db.exec('BEGIN');
      for (let j = i; j < Math.min(LEAVES, i + 10_000); j++) put.run(AGENT, j, hashes[j]!);
      db.exec('COMMIT');
    }
    db.close();

    // Persisted: grow from the store, nodes written back, O(log n) hashes held.
    let before = memory();
    let t = performance.now();
    const trees = new Trees(store);
    await trees.grow(AGENT, RUN, LEAVES);
    const persistedRate = LEAVES / ((performance.now() - t) / 1000);
    const persistedAfter = memory();
    const persisted = {
      retained: persistedAfter.retained - before.retained,
      rss: persistedAfter.rss - before.rss,
    };
    const held = trees.heldHashes(AGENT);

    // In memory: the same leaves in core's MemoryTree.
    before = memory();
    t = performance.now();
    const mem = new MemoryTree(hashes);
    const memoryRate = LEAVES / ((performance.now() - t) / 1000);
    const memAfter = memory();
    const inMemory = { retained: memAfter.retained - before.retained, rss: memAfter.rss - before.rss };

    yield {
      bench: 'verifier-log',
      metric: 'append_persisted_per_s',
      value: persistedRate,
      unit: 'leaves/s',
      baseline: memoryRate,
    };
    // Retained: what the tree keeps once built (the verifier's steady state); RSS growth also
    // counts SQLite's page cache and freed-but-kept allocator pages.
    yield {
      bench: 'verifier-log',
      metric: 'retained_persisted_mb',
      value: mb(persisted.retained),
      unit: 'MiB',
      baseline: mb(inMemory.retained),
    };
    yield {
      bench: 'verifier-log',
      metric: 'rss_growth_persisted_mb',
      value: mb(persisted.rss),
      unit: 'MiB',
      baseline: mb(inMemory.rss),
    };
    yield {
      bench: 'verifier-log',
      metric: 'hashes_held_persisted',
      value: held,
      unit: 'hashes',
      baseline: null,
    };

    // Inclusion proofs at 1,000 spread indices of the whole tree.
    const indices = Array.from({ length: 1000 }, (_, i) => Math.floor(((i + 0.5) * LEAVES) / 1000));
    t = performance.now();
    for (const i of indices) await trees.inclusionProof(AGENT, RUN, i, LEAVES);
    const persistedProofs = indices.length / ((performance.now() - t) / 1000);
    t = performance.now();
    for (const i of indices) inclusionProof(mem, i, LEAVES);
    const memoryProofs = indices.length / ((performance.now() - t) / 1000);
    yield {
      bench: 'verifier-log',
      metric: 'inclusion_proof_persisted_per_s',
      value: persistedProofs,
      unit: 'ops/s',
      baseline: memoryProofs,
    };
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
