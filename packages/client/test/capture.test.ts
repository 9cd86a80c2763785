import assert from 'node:assert/strict';
import { test } from 'node:test';
import { captureBody } from '@tmb/client';
import fc from 'fast-check';

function source(chunks: Uint8Array[], fail = false): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else if (fail) c.error(new Error('connection reset'));
      else c.close();
    },
  });
}

test('property: the reader gets exactly the source bytes and the capture holds the same bytes', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), async (chunks) => {
      const { stream, done } = captureBody(source(chunks));
      const read = new Uint8Array(await new Response(stream).arrayBuffer());
      const expected = Buffer.concat(chunks);
      assert.deepEqual(Buffer.from(read), expected);
      const captured = await done;
      assert.equal(captured.end, 'complete');
      assert.deepEqual(Buffer.from(captured.bytes), expected);
    }),
  );
});

test('a body that breaks off is captured as errored with the bytes read so far', async () => {
  const { stream, done } = captureBody(source([new Uint8Array([1, 2])], true));
  await assert.rejects(new Response(stream).arrayBuffer());
  const captured = await done;
  assert.equal(captured.end, 'errored');
  assert.deepEqual([...captured.bytes], [1, 2]);
});

test('a reader that cancels is captured as cancelled, and the source is cancelled too', async () => {
  let cancelled = false;
  const src = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new Uint8Array([7]));
    },
    cancel() {
      cancelled = true;
    },
  });
  const { stream, done } = captureBody(src);
  const reader = stream.getReader();
  await reader.read();
  await reader.cancel();
  const captured = await done;
  assert.equal(captured.end, 'cancelled');
  assert.deepEqual([...captured.bytes], [7]);
  assert.equal(cancelled, true);
});

test('nothing is read from the source before the reader asks', async () => {
  let pulls = 0;
  const src = new ReadableStream<Uint8Array>(
    {
      pull(c) {
        pulls++;
        c.enqueue(new Uint8Array([pulls]));
      },
    },
    { highWaterMark: 0 },
  );
  const { stream } = captureBody(src);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(pulls, 0);
  const reader = stream.getReader();
  await reader.read();
  assert.equal(pulls, 1);
  await reader.cancel();
});
