import { agentKeyId, type Check, checkSignedReceipt, fromBase64Url, type Verdict } from '@tmb/core';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';

const HELP = `usage: tmb verify RECEIPT-ID --verifier URL [--json] [--wait MS]

Fetches a receipt and its verdict from the verifier, checks the receipt's signature here as
well, and prints the checks and the assurance level (docs/result.md).

  --verifier URL   the verifier to ask (or TMB_VERIFIER_URL)
  --json           print one JSON object instead of a table
  --wait MS        wait up to MS for a receipt not pushed yet (default 0, at most 30000)
  --timeout MS     give up on the verifier after MS (default 15000)

Exits 0 when every check passed and the level is L0 or higher, 1 when not, 2 on bad usage.`;

/** What `tmb verify --json` prints. */
export interface VerifyOutput {
  receiptId: string;
  requestId: string | null;
  level: Verdict['level'];
  ok: boolean;
  /** The verifier's verdict, as it sent it. */
  verdict: Verdict;
  /** Checks made by this command itself, on the receipt bytes the verifier returned. */
  local: Check[];
}

export async function main(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      verifier: { type: 'string' },
      json: { type: 'boolean' },
      wait: { type: 'string' },
      timeout: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    true,
  );
  if (values.help) {
    io.stdout(`${HELP}\n`);
    return 0;
  }
  const [id, ...extra] = positionals;
  if (id === undefined || extra.length > 0)
    throw new UsageError('expected exactly one receipt id (see --help)');
  if (!/^[0-9a-f]{32}$/.test(id)) throw new UsageError('a receipt id is 32 lower-case hex digits');
  const base = values.verifier ?? process.env.TMB_VERIFIER_URL;
  if (base === undefined) throw new UsageError('--verifier URL is required');
  const wait = Math.min(ms(values.wait, '--wait', 0), 30_000);
  const timeout = ms(values.timeout, '--timeout', 15_000);
  let url: URL;
  try {
    url = new URL(`${base.replace(/\/+$/, '')}/v1/receipts/${id}`);
  } catch {
    throw new UsageError(`--verifier ${JSON.stringify(base)} is not a URL`);
  }
  if (wait > 0) url.searchParams.set('wait', String(wait));

  let res: Response;
  let json: Record<string, unknown>;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(wait + timeout) });
    json = (await res.json()) as Record<string, unknown>;
  } catch (err) {
    io.stderr(
      `tmb verify: no answer from ${url.origin}: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    return 1;
  }
  if (res.status !== 200) {
    const e = json.error as { code?: string; message?: string } | undefined;
    io.stderr(`tmb verify: ${e?.code ?? res.status}: ${e?.message ?? 'unexpected answer'}\n`);
    return 1;
  }
  const verdict = json.verdict as Verdict;
  const local = localChecks(id, json.receipt, json.agentKey);
  const ok = verdict.ok && verdict.level !== 'none' && local.every((c) => c.status === 'pass');
  const out: VerifyOutput = {
    receiptId: id,
    requestId: verdict.requestId,
    level: ok ? verdict.level : 'none',
    ok,
    verdict,
    local,
  };
  io.stdout(values.json ? `${JSON.stringify(out)}\n` : table(out));
  return ok ? 0 : 1;
}

/** Checks this command makes itself: the signature under the returned key, and the id. */
function localChecks(id: string, receipt: unknown, agentKey: unknown): Check[] {
  let key: Uint8Array | undefined;
  try {
    key = typeof agentKey === 'string' ? fromBase64Url(agentKey) : undefined;
  } catch {
    key = undefined;
  }
  const { body, checks } = checkSignedReceipt(receipt, (kid) =>
    key !== undefined && agentKeyId(key) === kid ? key : undefined,
  );
  if (body !== null) {
    checks.push(
      body.id === id
        ? { name: 'receipt.id', status: 'pass', detail: `receipt ${id}` }
        : {
            name: 'receipt.id',
            status: 'fail',
            code: 'RECEIPT_ID_MISMATCH',
            detail: `asked for ${id}, got ${body.id}`,
          },
    );
  }
  return checks;
}

function table(o: VerifyOutput): string {
  const rows = [...o.verdict.checks.map((c) => ['verifier', c]), ...o.local.map((c) => ['here', c])] as [
    string,
    Check,
  ][];
  const w = Math.max(5, ...rows.map(([, c]) => c.name.length));
  const lines = [
    `receipt ${o.receiptId}   request ${o.requestId ?? '-'}`,
    '',
    `${'check'.padEnd(w)}  ${'by'.padEnd(8)}  ${'status'.padEnd(8)}  detail`,
    ...rows.map(
      ([by, c]) =>
        `${c.name.padEnd(w)}  ${by.padEnd(8)}  ${c.status.padEnd(8)}  ${c.code ? `${c.code}: ` : ''}${c.detail}`,
    ),
    '',
    `level ${o.level}   ${o.ok ? 'OK' : 'NOT OK'}`,
  ];
  return `${lines.join('\n')}\n`;
}

function ms(v: string | undefined, flag: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`${flag} must be a non-negative integer`);
  return n;
}
