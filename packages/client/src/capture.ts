import { concat } from '@tmb/core';

/** How reading a response body ended. */
export type BodyEnd = 'complete' | 'cancelled' | 'errored';

/** The exact bytes a response body delivered to its reader, and how the read ended. */
export interface CapturedBody {
  bytes: Uint8Array;
  end: BodyEnd;
}

/**
 * Wraps a response body so that every chunk handed to the consumer is also recorded, without
 * buffering ahead of the consumer: each pull reads one chunk from the source and passes it on
 * (so an SSE stream reaches the reader event by event, and backpressure holds). `done` settles
 * once the body ends, is cancelled or fails; it never rejects.
 */
export function captureBody(source: ReadableStream<Uint8Array>): {
  stream: ReadableStream<Uint8Array>;
  done: Promise<CapturedBody>;
} {
  const reader = source.getReader();
  const chunks: Uint8Array[] = [];
  let settle!: (end: BodyEnd) => void;
  const done = new Promise<CapturedBody>((resolve) => {
    let settled = false;
    settle = (end) => {
      if (settled) return;
      settled = true;
      resolve({ bytes: concat(...chunks), end });
    };
  });
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let step: ReadableStreamReadResult<Uint8Array>;
        try {
          step = await reader.read();
        } catch (err) {
          settle('errored');
          controller.error(err);
          return;
        }
        if (step.done) {
          controller.close();
          settle('complete');
          return;
        }
        // Copy: the source may reuse its buffer once the consumer has it.
        chunks.push(step.value.slice());
        controller.enqueue(step.value);
      },
      async cancel(reason) {
        settle('cancelled');
        await reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, done };
}
