/**
 * What the soak bench checks after each phase: that every acknowledged receipt id is in the
 * agent's store and in the verifier's (both SQLite files, opened read-only beside the running
 * processes: WAL readers do not block writers), and the verdict the verifier gives each receipt,
 * asked until no check is pending or a bounded wait runs out.
 */
import { DatabaseSync } from 'node:sqlite';

/** How many of `ids` the `receipts` table (column `id`) of the SQLite file at `path` holds. */
export function countPresent(path: string, ids: readonly string[]): { found: number; missing: string[] } {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    const present = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = db
        .prepare(`SELECT id FROM receipts WHERE id IN (${chunk.map(() => '?').join(',')})`)
        .all(...chunk) as { id: string }[];
      for (const r of rows) present.add(r.id);
    }
    const missing = ids.filter((id) => !present.has(id));
    return { found: ids.length - missing.length, missing };
  } finally {
    db.close();
  }
}

/** Rows of the `receipts` table of the SQLite file at `path`. */
export function countRows(path: string): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    return Number((db.prepare('SELECT count(*) AS n FROM receipts').get() as { n: number }).n);
  } finally {
    db.close();
  }
}

interface Check {
  name: string;
  status: string;
  code?: string;
  detail?: string;
}

/**
 * A verdict's class: `L1` for an ok L1 verdict; `LEVEL:CODE+CODE` with the codes of the failed
 * checks (a failure is final even while other checks still say `pending:`); `pending` while a
 * check is asserted with a `pending:` detail and none failed; else the level alone.
 */
export function verdictClass(verdict: { level: string; ok: boolean; checks: Check[] }): string {
  const failed = verdict.checks.filter((c) => c.status === 'fail').map((c) => c.code ?? c.name);
  if (failed.length > 0) return `${verdict.level}:${[...new Set(failed)].sort().join('+')}`;
  if (verdict.checks.some((c) => c.detail?.startsWith('pending:'))) return 'pending';
  return verdict.level;
}

/**
 * Asks the verifier for each receipt's verdict (long-poll for the not yet pushed), again every
 * 250 ms while it is pending or not found, until `deadline` (performance.now() ms). Returns the
 * count of each final class (`not_found` and `pending` when the deadline passed first, `error_*`
 * for an unexpected answer), `concurrency` receipts at a time, and for each class the id and the
 * checks that did not pass of one receipt in it.
 */
export async function verdicts(
  verifierUrl: string,
  ids: readonly string[],
  deadline: number,
  concurrency = 16,
): Promise<{ counts: Record<string, number>; examples: Record<string, string> }> {
  const counts: Record<string, number> = {};
  const examples: Record<string, string> = {};
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++]!;
      let answer: { cls: string; example: string };
      for (;;) {
        answer = await ask(verifierUrl, id, Math.floor(deadline - performance.now()));
        const retry =
          answer.cls === 'pending' || answer.cls === 'not_found' || answer.cls.startsWith('error_');
        if (!retry || performance.now() >= deadline) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      counts[answer.cls] = (counts[answer.cls] ?? 0) + 1;
      examples[answer.cls] ??= answer.example;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return { counts, examples };
}

/** One GET /v1/receipts/:id, waiting up to `leftMs` (at most 5 s) for a receipt not yet there. */
async function ask(
  verifierUrl: string,
  id: string,
  leftMs: number,
): Promise<{ cls: string; example: string }> {
  const wait = Math.max(0, Math.min(leftMs, 5000));
  try {
    const res = await fetch(`${verifierUrl}/v1/receipts/${id}?wait=${wait}`, {
      signal: AbortSignal.timeout(wait + 5000),
    });
    if (res.status !== 200) {
      await res.arrayBuffer();
      return { cls: res.status === 404 ? 'not_found' : `error_${res.status}`, example: id };
    }
    const { verdict } = (await res.json()) as { verdict: Parameters<typeof verdictClass>[0] };
    const notPassed = verdict.checks
      .filter((c) => c.status !== 'pass')
      .map(
        (c) =>
          `${c.name}:${c.status}${c.code ? `:${c.code}` : ''}${c.detail ? ` (${c.detail.slice(0, 100)})` : ''}`,
      );
    return { cls: verdictClass(verdict), example: `${id} ${notPassed.join('; ')}` };
  } catch (err) {
    return { cls: `error_${(err as Error).name}`, example: id };
  }
}

/** Up to `n` of `ids`: the first and last tenth and an even spread between (all when fewer). */
export function sampleIds(ids: readonly string[], n: number): string[] {
  if (ids.length <= n) return [...ids];
  const edge = Math.floor(n / 10);
  const out = [...ids.slice(0, edge), ...ids.slice(ids.length - edge)];
  const middle = n - 2 * edge;
  const step = (ids.length - 2 * edge) / middle;
  for (let k = 0; k < middle; k++) out.push(ids[edge + Math.floor(k * step)]!);
  return out;
}

/** The agent's stored receipts by `outcome` (the body is canonical JSON, docs/receipt.md). */
export function outcomes(path: string): Record<string, number> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    const rows = db
      .prepare(
        "SELECT json_extract(CAST(body AS TEXT), '$.outcome') AS outcome, count(*) AS n FROM receipts GROUP BY 1",
      )
      .all() as { outcome: string | null; n: number }[];
    return Object.fromEntries(rows.map((r) => [String(r.outcome), Number(r.n)]));
  } finally {
    db.close();
  }
}
