import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CoreError, readBounded, readBoundedText } from '@tmb/core';
import fc from 'fast-check';

function streamed(chunks: Uint8Array[], onCancel?: () => void): Response {
  let i = 0;
  return new Response(
    new ReadableStream<Uint8Array>({
      pull(c) {
        if (i < chunks.length) c.enqueue(chunks[i++]!);
        else c.close();
      },
      cancel: onCancel,
    }),
  );
}

const isTooLarge = (e: unknown) => e instanceof CoreError && e.code === 'LENGTH_TOO_LARGE';

test('a body within the cap is read whole, byte for byte', async () => {
  assert.deepEqual(await readBounded(new Response(new Uint8Array([1, 2, 3])), 3), new Uint8Array([1, 2, 3]));
  assert.equal(await readBoundedText(new Response('héllo'), 100), 'héllo');
  assert.deepEqual(await readBounded(new Response(null), 0), new Uint8Array(0));
});

test('a declared Content-Length over the cap is refused before reading', async () => {
  let pulled = false;
  const res = new Response(
    new ReadableStream({
      pull() {
        pulled = true;
      },
    }),
    { headers: { 'content-length': '1000' } },
  );
  await assert.rejects(readBounded(res, 999), isTooLarge);
  assert.equal(pulled, false);
});

test('an undeclared body growing past the cap is cancelled at the cap', async () => {
  let cancelled = false;
  let served = 0;
  const res = new Response(
    new ReadableStream<Uint8Array>({
      pull(c) {
        served++;
        c.enqueue(new Uint8Array(1024)); // endless
      },
      cancel() {
        cancelled = true;
      },
    }),
  );
  await assert.rejects(readBounded(res, 10_000), isTooLarge);
  assert.ok(cancelled, 'the source was cancelled');
  assert.ok(served <= 12, `read stopped near the cap (${served} chunks)`);
});

test('property: any chunking of any body reads back exactly, or is refused only when over the cap', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
      fc.nat(800),
      async (chunks, cap) => {
        const total = chunks.reduce((n, c) => n + c.length, 0);
        const all = new Uint8Array(total);
        let at = 0;
        for (const c of chunks) {
          all.set(c, at);
          at += c.length;
        }
        if (total > cap) await assert.rejects(readBounded(streamed(chunks), cap), isTooLarge);
        else assert.deepEqual(await readBounded(streamed(chunks), cap), all);
      },
    ),
    { numRuns: 200 },
  );
});
