import { CoreError } from '../errors.ts';

/**
 * Reads a fetch Response body to its end, refusing more than `max` bytes: a declared
 * Content-Length over the cap is refused before anything is read, and a body that grows past it
 * is cancelled at the cap. Every answer read from the network (verifier answers to agents and
 * clients) goes through this, so a hostile or broken peer cannot make the reader buffer without
 * bound. Uses only the Fetch and Streams standards, so it runs in browsers too.
 * @throws CoreError LENGTH_TOO_LARGE
 */
export async function readBounded(res: Response, max: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN);
  if (declared > max) {
    await res.body?.cancel().catch(() => {});
    throw new CoreError('LENGTH_TOO_LARGE', `answer declares ${declared} bytes, over the cap of ${max}`);
  }
  if (res.body === null) return new Uint8Array(0);
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.length;
    if (n > max) {
      await reader.cancel().catch(() => {});
      throw new CoreError('LENGTH_TOO_LARGE', `answer is over the cap of ${max} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** readBounded, decoded as UTF-8 text (invalid sequences become U+FFFD, as Response.text does). */
export async function readBoundedText(res: Response, max: number): Promise<string> {
  return new TextDecoder().decode(await readBounded(res, max));
}
