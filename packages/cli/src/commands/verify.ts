import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BundleResult,
  type ReceiptResult,
  verifyBundle,
  verifyBundleBatch,
  verifyReceipt,
} from '@tmb/client';
import { isReceiptId } from '@tmb/core';
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

/** What `tmb verify --json` prints: @tmb/client's result, less the bundle (--save writes that). */
export type VerifyOutput = Omit<ReceiptResult, 'bundle'>;

/** `tmb verify`: see HELP. Exits 0 when no check failed and the level is L0 or higher. */
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
  let outs: VerifyOutput[] | VerifyOutput;
  if (values.bundle !== undefined) {
    if (positionals.length > 0) throw new UsageError('give a receipt id or --bundle FILE, not both');
    outs = await fromFile(values.bundle, key, ekRoots);
  } else {
    const [id, ...extra] = positionals;
    if (id === undefined || extra.length > 0)
      throw new UsageError('expected exactly one receipt id, or --bundle FILE (see --help)');
    if (!isReceiptId(id)) throw new UsageError('a receipt id is 32 lower-case hex digits');
    const verifierUrl = values.verifier ?? process.env.TMB_VERIFIER_URL;
    if (verifierUrl === undefined) throw new UsageError('--verifier URL is required');
    try {
      new URL(verifierUrl);
    } catch {
      throw new UsageError(`--verifier ${JSON.stringify(verifierUrl)} is not a URL`);
    }
    const waitMs = Math.min(ms(values.wait, '--wait', 0), 30_000);
    const timeoutMs = ms(values.timeout, '--timeout', 15_000);
    if (key === undefined) outs = unkeyed(id);
    else {
      const opts = { verifierUrl, verifierKey: key, ekRoots, waitMs, timeoutMs, now: new Date() };
      const { bundle, ...result } = await verifyReceipt(id, opts);
      if (bundle !== null && values.save !== undefined)
        await writeFile(values.save, `${JSON.stringify(bundle)}\n`);
      outs = result;
    }
  }
  if (Array.isArray(outs))
    io.stdout(values.json ? `${JSON.stringify({ results: outs })}\n` : outs.map(table).join('\n'));
  else io.stdout(values.json ? `${JSON.stringify(outs)}\n` : table(outs));
  return (Array.isArray(outs) ? outs : [outs]).every((o) => o.ok && o.level !== 'none') ? 0 : 1;
}

/** A bundle file's result, or one per receipt of a batch file (an array), checked offline. */
async function fromFile(
  file: string,
  key: JsonWebKey | undefined,
  ekRoots: string[] | undefined,
): Promise<VerifyOutput | VerifyOutput[]> {
  let bundle: unknown;
  try {
    bundle = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--bundle ${file}: ${(err as Error).message}`);
  }
  const batch = (bundle as { type?: unknown } | null)?.type === 'tmb.bundle-batch';
  if (key === undefined) return batch ? [unkeyed(null)] : unkeyed(null);
  const options = { verifierKey: key, ekRoots, now: new Date() };
  if (batch) return (await verifyBundleBatch(bundle, options)).map(fromBundle);
  return fromBundle(await verifyBundle(bundle, options));
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
