import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { checkpointVerifierKey, ReceiptLog } from '@tmb/agent/log';
import { ed25519Raw, toHex } from '@tmb/core';
import { MemoryTree, openCheckpoint, parseVerifierKey, verifyConsistency } from '@tmb/core/log';

const dir = mkdtempSync(join(tmpdir(), 'tmb-log-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const script = new URL('./fixtures/appender.ts', import.meta.url).pathname;
const origin = 'tmb.test/crash';
const seed = randomBytes(32);
const privateKey = createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]),
  format: 'der',
  type: 'pkcs8',
});
const verifier = parseVerifierKey(checkpointVerifierKey(origin, ed25519Raw(createPublicKey(privateKey))));

/** Runs the appender until it has announced `minCheckpoints`, then SIGKILLs it after a random delay. */
function runAndKill(
  path: string,
  delayMs: number,
): Promise<{ announced: Map<number, number>; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, path, toHex(seed), origin], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const announced = new Map<number, number>();
    let out = '';
    let err = '';
    let armed = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) {
        const m = /^checkpoint (\d+) (\d+)$/.exec(line);
        if (m !== null) announced.set(Number(m[1]), Number(m[2]));
        if (!armed && line.startsWith('ready')) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), delayMs);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`appender exited with ${code}: ${err}`));
      else resolve({ announced, signal });
    });
  });
}

test('the log survives SIGKILL at random moments of appends: consistent with every checkpoint it signed', async () => {
  const path = join(dir, 'log.db');
  const announced = new Map<number, number>();
  const delays: number[] = [];
  for (let round = 0; round < 8; round++) {
    const delay = randomInt(10, 300);
    delays.push(delay);
    const r = await runAndKill(path, delay);
    for (const [seq, size] of r.announced) announced.set(seq, size);
    // Reopening checks the latest checkpoint against the tree, and throws if it does not hold.
    const log = ReceiptLog.open(path);
    assert.ok(log.audit().ok, `round ${round}, killed after ${delay} ms`);
    log.close();
  }
  const log = ReceiptLog.open(path);
  const stored = log.checkpoints();
  assert.ok(stored.length >= 6, `only ${stored.length} checkpoints after kills at ${delays.join(', ')} ms`);
  // Every checkpoint that checkpoint() returned was durable.
  for (const [seq, size] of announced) {
    assert.equal(stored.find((c) => c.seq === seq)?.size, size, `announced checkpoint ${seq} is stored`);
  }
  // Each stored checkpoint: a valid signed note naming the tree's root at its size.
  for (const cp of stored) {
    const r = openCheckpoint(cp.note, [verifier], origin);
    assert.ok(r.ok, r.ok ? '' : r.detail);
    assert.equal(r.checkpoint.size, cp.size);
    assert.deepEqual(r.checkpoint.root, log.rootAt(cp.size));
  }
  // Consecutive checkpoints are consistent, with proofs served by the log and checked by core.
  for (let i = 1; i < stored.length; i++) {
    const [a, b] = [stored[i - 1]!, stored[i]!];
    assert.ok(a.size <= b.size, 'sizes never go back');
    assert.ok(
      verifyConsistency(log.consistencyProof(a.size, b.size), a.root, b.root).ok,
      `${a.seq} -> ${b.seq}`,
    );
  }
  // The cached interior nodes match a tree rebuilt from the committed leaves.
  const rebuilt = new MemoryTree(Array.from({ length: log.size }, (_, i) => log.leafHash(i)));
  assert.deepEqual(log.root(), rebuilt.root());
  assert.ok(log.audit(true).ok);
  log.close();
});
