import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BundleResult,
  bindingCheck,
  type ClientCheck,
  fetchBundle,
  fetchReceipt,
  verifyBundle,
  verifyBundleBatch,
  verifyResult,
} from '@tmb/client';
import { agentKeyId, type Check, checkSignedReceipt, type Level, levelOf, minLevel } from '@tmb/core';
import { parse, UsageError } from '../args.ts';
import type { Io } from '../registry.ts';

const HELP = `usage: tmb verify RECEIPT-ID --verifier URL --verifier-key FILE [--ek-roots DIR] [--json]
       tmb verify --bundle FILE --verifier-key FILE [--ek-roots DIR] [--json]

Checks a receipt with @tmb/client (docs/bundle.md, docs/result.md). With a receipt id, asks the
verifier for the receipt's offline evidence bundle and re-runs every check here; until a quote
covers the receipt (or for an agent without a TPM) it checks the verifier's signed result and
the receipt instead. With --bundle, reads a bundle file and uses no network at all.

  --verifier URL       the verifier to ask (or TMB_VERIFIER_URL)
  --verifier-key FILE  the verifier's result key, a JWK (GET /v1/verifier-key), obtained out of
                       band. Without it nothing the verifier signed can be checked: level none
  --ek-roots DIR       EK root CAs (*.pem, *.crt) to chain the TPM's EK certificate to; without
                       them the EK chain is the verifier's word and the level stays below L1
  --bundle FILE        verify this bundle (or batch of bundles) file offline; a batch prints one
                       result per receipt ({"results": [...]} with --json)
  --save FILE          with a receipt id: also write the bundle fetched to FILE
  --json               print one JSON object instead of a table
  --wait MS            wait up to MS for a receipt not pushed yet (default 0, at most 30000)
  --timeout MS         give up on the verifier after MS (default 15000)

Exits 0 when no check failed and the level is L0 or higher, 1 when not, 2 on bad usage.`;

/** What `tmb verify --json` prints. */
export interface VerifyOutput {
  receiptId: string | null;
  /** `bundle`: every check re-run here from a bundle; `verifier`: the verifier's signed result. */
  source: 'bundle' | 'verifier';
  level: Level;
  ok: boolean;
  checks: ClientCheck[];
}

export async function main(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      verifier: { type: 'string' },
      'verifier-key': { type: 'string' },
      'ek-roots': { type: 'string' },
      bundle: { type: 'string' },
      save: { type: 'string' },
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
  const key = values['verifier-key'] === undefined ? undefined : await jwk(values['verifier-key']);
  const ekRoots = values['ek-roots'] === undefined ? undefined : await pems(values['ek-roots']);
  let out: VerifyOutput;
  if (values.bundle !== undefined) {
    if (positionals.length > 0) throw new UsageError('give a receipt id or --bundle FILE, not both');
    let bundle: unknown;
    try {
      bundle = JSON.parse(await readFile(values.bundle, 'utf8'));
    } catch (err) {
      throw new UsageError(`--bundle ${values.bundle}: ${(err as Error).message}`);
    }
    if ((bundle as { type?: unknown } | null)?.type === 'tmb.bundle-batch') {
      const outs =
        key === undefined
          ? [unkeyed(null)]
          : (await verifyBundleBatch(bundle, { verifierKey: key, ekRoots, now: new Date() })).map(fromBundle);
      io.stdout(values.json ? `${JSON.stringify({ results: outs })}\n` : outs.map(table).join('\n'));
      return outs.every((o) => o.ok && o.level !== 'none') ? 0 : 1;
    }
    out =
      key === undefined
        ? unkeyed(null)
        : fromBundle(await verifyBundle(bundle, { verifierKey: key, ekRoots, now: new Date() }));
  } else {
    const [id, ...extra] = positionals;
    if (id === undefined || extra.length > 0)
      throw new UsageError('expected exactly one receipt id, or --bundle FILE (see --help)');
    if (!/^[0-9a-f]{32}$/.test(id)) throw new UsageError('a receipt id is 32 lower-case hex digits');
    const base = values.verifier ?? process.env.TMB_VERIFIER_URL;
    if (base === undefined) throw new UsageError('--verifier URL is required');
    try {
      new URL(base);
    } catch {
      throw new UsageError(`--verifier ${JSON.stringify(base)} is not a URL`);
    }
    const wait = Math.min(ms(values.wait, '--wait', 0), 30_000);
    const timeout = ms(values.timeout, '--timeout', 15_000);
    if (key === undefined) out = unkeyed(id);
    else {
      const b = await fetchBundle(fetch, base, id, timeout);
      if (b.bundle !== null) {
        if (values.save !== undefined) await writeFile(values.save, `${JSON.stringify(b.bundle)}\n`);
        out = fromBundle(
          await verifyBundle(b.bundle, { verifierKey: key, ekRoots, receiptId: id, now: new Date() }),
        );
      } else if (b.notReady || wait > 0) out = await fromVerifier(base, id, key, wait, timeout);
      else out = { receiptId: id, source: 'verifier', level: 'none', ok: false, checks: [b.check] };
    }
  }
  io.stdout(values.json ? `${JSON.stringify(out)}\n` : table(out));
  return out.ok && out.level !== 'none' ? 0 : 1;
}

function fromBundle(r: BundleResult): VerifyOutput {
  return { receiptId: r.receiptId, source: 'bundle', level: r.level, ok: r.ok, checks: r.checks };
}

function unkeyed(id: string | null): VerifyOutput {
  return {
    receiptId: id,
    source: 'verifier',
    level: 'none',
    ok: false,
    checks: [
      {
        name: 'verifier.result',
        status: 'fail',
        code: 'VERIFIER_NOT_CONFIGURED',
        detail: 'no --verifier-key: nothing the verifier signed can be checked',
      },
    ],
  };
}

/**
 * No bundle yet: the verifier's answer, whose signed result gives the level and checks (the
 * verifier's word), checked against the receipt and key it binds; the receipt's signature is
 * checked here.
 */
async function fromVerifier(
  base: string,
  id: string,
  key: JsonWebKey,
  wait: number,
  timeout: number,
): Promise<VerifyOutput> {
  const url = `${base.replace(/\/+$/, '')}/v1/receipts/${id}`;
  const a = await fetchReceipt(fetch, { url, chosenBy: 'client' }, wait, timeout);
  const checks: ClientCheck[] = [a.check];
  const fail = (): VerifyOutput => ({ receiptId: id, source: 'verifier', level: 'none', ok: false, checks });
  if (a.answer === null) return fail();
  const r = await verifyResult(a.answer.result, key, id);
  checks.push(r.check);
  if (r.bound === null) return fail();
  const bound = r.bound;
  const own = checkSignedReceipt(a.answer.receipt, (kid) => {
    const k = bound.agentKey === null ? undefined : new Uint8Array(Buffer.from(bound.agentKey, 'base64url'));
    return k !== undefined && agentKeyId(k) === kid ? k : undefined;
  });
  checks.push(
    bindingCheck(bound, {
      receiptBytes: own.bytes ?? new Uint8Array(0),
      agentKey: a.answer.agentKey,
      attestation: a.answer.attestation,
    }).check,
    ...own.checks,
  );
  if (own.body !== null)
    checks.push(
      own.body.id === id
        ? { name: 'receipt.id', status: 'pass', detail: `receipt ${id} is the one asked for` }
        : {
            name: 'receipt.id',
            status: 'fail',
            code: 'RECEIPT_ID_MISMATCH',
            detail: `asked for ${id}, the verifier answered ${own.body.id}`,
          },
    );
  const mine = new Set(checks.map((c) => c.name));
  for (const c of bound.checks)
    if (!mine.has(c.name)) checks.push({ ...c, detail: `per the verifier: ${c.detail}` } as ClientCheck);
  const level = minLevel(levelOf(checks as Check[]), bound.level);
  return {
    receiptId: id,
    source: 'verifier',
    level,
    ok: bound.ok && checks.every((c) => c.status !== 'fail'),
    checks,
  };
}

async function jwk(file: string): Promise<JsonWebKey & { kid?: string }> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as JsonWebKey & { kid?: string };
  } catch (err) {
    throw new UsageError(`--verifier-key ${file}: ${(err as Error).message}`);
  }
}

async function pems(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.(pem|crt)$/.test(n)).sort();
  } catch (err) {
    throw new UsageError(`--ek-roots ${dir}: ${(err as Error).message}`);
  }
  if (names.length === 0) throw new UsageError(`--ek-roots ${dir}: no *.pem or *.crt files`);
  return Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
}

function table(o: VerifyOutput): string {
  const w = Math.max(5, ...o.checks.map((c) => c.name.length));
  const lines = [
    `receipt ${o.receiptId ?? '-'}   checked from ${o.source === 'bundle' ? 'its evidence bundle' : "the verifier's signed result"}`,
    '',
    `${'check'.padEnd(w)}  ${'status'.padEnd(8)}  detail`,
    ...o.checks.map(
      (c) => `${c.name.padEnd(w)}  ${c.status.padEnd(8)}  ${c.code ? `${c.code}: ` : ''}${c.detail}`,
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
