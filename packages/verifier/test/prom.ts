import assert from 'node:assert/strict';

/**
 * Parses Prometheus text exposition (format 0.0.4) into `series -> value`, where a series is
 * the name with its labels as written (`name{label="v",...}`); # HELP and # TYPE lines skipped.
 * Every other line must be a sample, or the assertion fails.
 */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m, `not an exposition line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** GET /metrics with a bearer token (null: none). */
export function scrape(url: string, token: string | null): Promise<Response> {
  return fetch(`${url}/metrics`, token === null ? {} : { headers: { authorization: `Bearer ${token}` } });
}
