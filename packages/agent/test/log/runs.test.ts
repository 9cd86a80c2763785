import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import { test } from 'node:test';
import { checkpointSigner, ReceiptLog } from '@tmb/agent/log';

// Note 13, "ended runs on the agent side (log_runs) uncapped": every run is kept in receipts.db
// for audit, and none is needed in memory. What the agent does while it runs (open the log, append,
// start a run, sign a checkpoint, serve a proof by seq) reads at most ONE log_runs row per
// statement (the latest, or the one holding a seq); only audit() and runs() read them all. So the
// number of runs never grows the agent's start or its memory, and no cap is needed. This test
// fails if a statement of that path starts reading every run.

/** `db` with every SQL text it prepares recorded. */
function recording(db: DatabaseSync): { db: DatabaseSync; sql: string[] } {
  const sql: string[] = [];
  const proxy = new Proxy(db, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === 'prepare')
        return (text: string) => {
          sql.push(text);
          return target.prepare(text);
        };
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  return { db: proxy, sql };
}

/** A statement that may return more than one log_runs row. */
const readsManyRuns = (text: string) =>
  /\bFROM log_runs\b/i.test(text) && !/\bLIMIT 1\b/i.test(text) && !/^\s*INSERT\b/i.test(text);

test('with 2,000 ended runs stored, opening, appending, starting a run, checkpointing and locating read one run row at most', async () => {
  const db = new DatabaseSync(':memory:');
  const first = ReceiptLog.open(db);
  let seq = 0;
  for (let r = 0; r < 2_000; r++) {
    first.append([new Uint8Array([r & 0xff])], seq);
    seq++;
    first.startRun(seq + 1, `test run ${r + 1}`, r); // one seq skipped between runs
    seq++;
  }
  const { db: watched, sql } = recording(db);
  const log = ReceiptLog.open(watched);
  assert.deepEqual(log.run, { run: 2_000, base: seq });
  log.append([new Uint8Array([1]), new Uint8Array([2])], seq);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
  const signer = checkpointSigner('runs-test', { privateKey, publicKey: raw });
  await log.checkpoint('runs-test', signer);
  assert.deepEqual(log.locate(seq + 1), { run: 2_000, base: seq, index: 1 });
  assert.deepEqual(log.locate(0), { run: 0, base: 0, index: 0 }, 'a seq of the first run');
  assert.equal(log.locate(1), null, 'a skipped seq is in no run');
  log.startRun(log.nextSeq, 'after the watch', 0);
  assert.ok(
    sql.some((s) => /log_runs/.test(s)),
    'the watch saw the run statements',
  );
  assert.deepEqual(sql.filter(readsManyRuns), [], 'no statement of the running path reads every run');
  // Stored for audit, all of them.
  assert.equal(log.runs().length, 2_002);
  assert.ok(sql.filter(readsManyRuns).length > 0, 'runs() does read them all (the watch works)');
});
