import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { test } from 'node:test';
import { toBase64 } from '@tmb/core';
import { ed25519NoteSigner, signCheckpoint } from '@tmb/core/log';
import fc from 'fast-check';
import { reopenQuoted, telemetryChainCheck } from '../../src/attest/quoted.ts';
import { telemetryExtensionView } from '../../src/telemetry/extension.ts';
import { SqliteTelemetryStore } from '../../src/telemetry/store.ts';
import { newKey } from '../fixtures.ts';

// A quoted checkpoint's tmb-telemetry line against the telemetry chain the verifier received.

const heads = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
async function received(): Promise<SqliteTelemetryStore> {
  const store = new SqliteTelemetryStore(':memory:', 100);
  await store.append('a', undefined, { chain: 0, nextSeq: 2, head: heads[1]!, restarts: 0 }, [
    { chain: 0, seq: 0, head: heads[0]!, gpu: [{ t: 1 }] },
    { chain: 0, seq: 1, head: heads[1]!, gpu: [{ t: 2 }] },
  ]);
  return store;
}
const line = (count: number, head: Uint8Array) => `tmb-telemetry ${count} ${toBase64(head)}`;

test('telemetry.chain: pass on the received head, named failures otherwise, skipped without a line', async () => {
  const store = await received();
  // The lines' answers are read ahead from the store, as evidence intake does (attest/intake.ts).
  const run = async (ext: string[]) => {
    const c = telemetryChainCheck(ext, await telemetryExtensionView(store, 'a', ext.join('\n')));
    return [c.name, c.status, c.code];
  };
  assert.deepEqual(await run([line(2, heads[1]!)]), ['telemetry.chain', 'pass', undefined]);
  assert.deepEqual(await run(['witness-ext x', line(1, heads[0]!)]), ['telemetry.chain', 'pass', undefined]);
  // Another head than the one received for that batch: the stream and the checkpoint disagree.
  assert.deepEqual(await run([line(2, heads[0]!)]), ['telemetry.chain', 'fail', 'TELEMETRY_HEAD_MISMATCH']);
  // A batch the verifier has not received.
  assert.deepEqual(await run([line(3, heads[1]!)]), ['telemetry.chain', 'fail', 'TELEMETRY_HEAD_UNKNOWN']);
  assert.deepEqual(await run([line(2, heads[1]!), line(2, heads[1]!)]), [
    'telemetry.chain',
    'fail',
    'TELEMETRY_HEAD_MISMATCH',
  ]);
  for (const bad of ['tmb-telemetry', 'tmb-telemetry 0 AAAA', `${line(2, heads[1]!)} x`, 'tmb-telemetry 2 ?'])
    assert.deepEqual(await run([bad]), ['telemetry.chain', 'fail', 'TELEMETRY_HEAD_MISMATCH'], bad);
  assert.deepEqual(await run([]), ['telemetry.chain', 'skipped', undefined]);
  assert.deepEqual(await run(['tmb-telemetryx 2 y']), ['telemetry.chain', 'skipped', undefined]);
  assert.equal(telemetryChainCheck([line(2, heads[1]!)], undefined).status, 'skipped');
  await store.close();
});

test('telemetry.chain never passes a line other than the received head, whatever the line', async () => {
  const store = await received();
  const good = new Set([line(1, heads[0]!), line(2, heads[1]!)]);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.string({ maxLength: 80 }).map((s) => `tmb-telemetry ${s}`),
        fc
          .tuple(fc.integer({ min: 0, max: 5 }), fc.uint8Array({ minLength: 32, maxLength: 32 }))
          .map(([n, h]) => line(n, h)),
      ),
      async (l) => {
        const c = telemetryChainCheck([l], await telemetryExtensionView(store, 'a', l));
        assert.equal(c.status === 'pass', good.has(l));
        if (c.status === 'fail')
          assert.ok(c.code === 'TELEMETRY_HEAD_MISMATCH' || c.code === 'TELEMETRY_HEAD_UNKNOWN');
      },
    ),
    { numRuns: 300 },
  );
  await store.close();
});

test('reopenQuoted opens the note as signed, extension lines included, and names a bad one', async () => {
  const k = newKey('gpu-1');
  const origin = 'tmb/agent/gpu-1';
  const signer = ed25519NoteSigner(origin, k.raw, (t) => new Uint8Array(sign(null, t, k.privateKey)));
  const note = await signCheckpoint(
    { origin, size: 1, root: new Uint8Array(32), extensions: [line(2, heads[1]!)] },
    [signer],
  );
  const r = reopenQuoted(note, k.raw, origin);
  assert.ok(r.ok);
  assert.deepEqual(r.checkpoint.extensions, [line(2, heads[1]!)]);
  const edited = reopenQuoted(note.replace(line(2, heads[1]!), line(2, heads[0]!)), k.raw, origin);
  assert.equal(edited.ok ? 'ok' : edited.code, 'NOTE_SIGNATURE_INVALID');
  const other = reopenQuoted(note, newKey('gpu-1').raw, origin);
  assert.equal(other.ok ? 'ok' : other.code, 'NOTE_NO_KNOWN_SIGNER');
  const none = reopenQuoted(note, undefined, origin);
  assert.equal(none.ok ? 'ok' : none.code, 'NOTE_NO_KNOWN_SIGNER');
  const elsewhere = reopenQuoted(note, k.raw, 'tmb/agent/gpu-2');
  assert.equal(elsewhere.ok ? 'ok' : elsewhere.code, 'NOTE_NO_KNOWN_SIGNER');
});

test('reopenQuoted keeps what it verified (frozen) and still refuses any other note, key or origin', async () => {
  const k = newKey('gpu-3');
  const origin = 'tmb/agent/gpu-3';
  const signer = ed25519NoteSigner(origin, k.raw, (t) => new Uint8Array(sign(null, t, k.privateKey)));
  const note = await signCheckpoint({ origin, size: 7, root: new Uint8Array(32).fill(9), extensions: [] }, [
    signer,
  ]);
  const first = reopenQuoted(note, k.raw, origin);
  const again = reopenQuoted(note, k.raw, origin);
  assert.ok(first.ok && again.ok);
  assert.equal(again, first, 'the second opening is the kept one');
  assert.ok(Object.isFrozen(again.checkpoint) && Object.isFrozen(again.checkpoint.extensions));
  // Every byte of the note after a kept opening: each edit is refused, never served from the cache.
  for (let i = 0; i < note.length; i++) {
    const c = note.charCodeAt(i);
    const edited = note.slice(0, i) + String.fromCharCode(c === 0x41 ? 0x42 : 0x41) + note.slice(i + 1);
    if (edited === note) continue;
    assert.equal(reopenQuoted(edited, k.raw, origin).ok, false, `byte ${i} edited`);
  }
  assert.equal(reopenQuoted(note, newKey('gpu-3').raw, origin).ok, false);
  assert.equal(reopenQuoted(note, k.raw, 'tmb/agent/gpu-4').ok, false);
});
