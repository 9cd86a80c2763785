// A strict reader of the Prometheus text format (version 0.0.4) for tests: every line must be a
// comment or `name{labels} value`; the samples come back by `name{labels}` exactly as printed.
import assert from 'node:assert/strict';

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/;

/** Parses a scrape; fails the test on a line that is neither a comment nor a sample. */
export function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
    const value = m[3] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[3]);
    assert.ok(!Number.isNaN(value), `not a number: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, value);
  }
  return out;
}

/** Scrapes `url` and parses it; asserts the content type. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, await res.clone().text());
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return parseProm(await res.text());
}

/** Polls `cond` every 20 ms until it holds; fails after `ms`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = 'condition',
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not reached within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
