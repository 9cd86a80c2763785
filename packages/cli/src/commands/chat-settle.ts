import { readBounded } from '@tmb/core';

/** Largest verifier answer peeked at (as @tmb/client reads it: a receipt, verdict and proofs). */
const MAX_VERIFIER_ANSWER_BYTES = 4 << 20;
/** Time between two asks while the telemetry around a receipt has not arrived. */
const ASK_EVERY_MS = 200;
/** Receipts whose deadline is remembered at once (a chat has one in flight; bounded anyway). */
const MAX_TRACKED = 256;

/** The words the verifier's `telemetry.consistent` uses while the samples after an answer are on their way. */
export const NO_SAMPLES_YET = 'no-samples-around-window';

/**
 * A fetch for @tmb/client's calls to the verifier that lets a verdict's telemetry settle: when
 * the verifier's answer for a receipt says `telemetry.consistent` was skipped because the GPU
 * samples after the answer's end have not arrived yet (agents push them every fraction of a
 * second), it asks again, every 200 ms, until they have or `waitMs` after the first ask, and
 * hands the client the last answer. It only delays: the client checks that answer's signed
 * result as it would any other, so nothing here can raise a level. Other requests pass as they are.
 */
export function settlingFetch(verifier: string, waitMs: number, base: typeof fetch): typeof fetch {
  const receipts = `${verifier}/v1/receipts/`;
  const deadlines = new Map<string, number>();
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    if (!url.startsWith(receipts)) return base(input, init);
    const id = new URL(url).pathname.slice(new URL(receipts).pathname.length);
    if (!deadlines.has(id)) {
      if (deadlines.size >= MAX_TRACKED) deadlines.delete(deadlines.keys().next().value!);
      deadlines.set(id, Date.now() + waitMs);
    }
    for (;;) {
      const res = await base(input, init);
      if (res.status !== 200) return res;
      const bytes = await readBounded(res, MAX_VERIFIER_ANSWER_BYTES);
      const again = Date.now() + ASK_EVERY_MS < deadlines.get(id)! && samplesPending(bytes);
      if (!again)
        return new Response(bytes as Uint8Array<ArrayBuffer>, {
          status: res.status,
          statusText: res.statusText,
          headers: res.headers,
        });
      await new Promise((r) => setTimeout(r, ASK_EVERY_MS));
    }
  }) as typeof fetch;
}

/**
 * Whether the verifier's (unsigned) verdict skipped `telemetry.consistent` for want of the
 * samples around the answer: it only decides whether to ask again, never what the result says.
 */
export function samplesPending(answer: Uint8Array): boolean {
  try {
    const a = JSON.parse(new TextDecoder().decode(answer)) as {
      verdict?: { checks?: Array<{ name?: unknown; status?: unknown; detail?: unknown }> };
    };
    return (a.verdict?.checks ?? []).some(
      (c) =>
        c.name === 'telemetry.consistent' &&
        c.status === 'skipped' &&
        typeof c.detail === 'string' &&
        c.detail.includes(NO_SAMPLES_YET),
    );
  } catch {
    return false;
  }
}
