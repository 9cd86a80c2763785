/**
 * Receipts signed and stored durably per second on one core, with the agent's own ReceiptSigner
 * and ReceiptStore (SQLite WAL, group commit), all in this one thread. Receipts are issued 256
 * at a time, as concurrent exchanges would issue them; `_serial` awaits each one alone (one
 * commit per receipt, the worst case). Baseline: the same loop, encoding and signing only.
 * Bounded: at most 100,000 receipts or 3 s a measurement.
 */
import { sign } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateAgentKey, ReceiptSigner, ReceiptStore } from '@tmb/agent';
import { encodeReceiptBody, type ReceiptBody, receiptSigningMessage } from '@tmb/core';
import type { BenchRecord } from './record.ts';
import { chatFields } from './servers.ts';

const MAX = 100_000;
const MS = 3_000;
const IN_FLIGHT = 256;

/** Runs `step(i)` in groups of `inFlight` until `max` or MS; returns operations per second. */
async function perSecond(
  inFlight: number,
  step: (i: number) => Promise<unknown> | unknown,
  max = MAX,
): Promise<number> {
  const t0 = performance.now();
  let n = 0;
  while (n < max && performance.now() - t0 < MS) {
    const group: Array<Promise<unknown> | unknown> = [];
    for (let k = 0; k < inFlight; k++) group.push(step(n++));
    await Promise.all(group);
  }
  return n / ((performance.now() - t0) / 1000);
}

async function stored(durability: 'normal' | 'full', inFlight: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-receipts-'));
  const store = new ReceiptStore(dir, durability);
  try {
    const signer = new ReceiptSigner('bench', generateAgentKey('bench'), store, Date.now() * 1000);
    await perSecond(inFlight, (i) => signer.issue(chatFields(i)), 2_000); // warm-up
    return await perSecond(inFlight, (i) => signer.issue(chatFields(i)));
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function signedOnly(): Promise<number> {
  const key = generateAgentKey('bench');
  const step = (i: number) => {
    const body: ReceiptBody = {
      v: 2,
      type: 'tmb.receipt',
      agent: 'bench',
      key: key.keyId,
      seq: i,
      ...chatFields(i),
      served: { weights: null, engine: null },
    };
    return sign(null, receiptSigningMessage(encodeReceiptBody(body)), key.privateKey);
  };
  return perSecond(IN_FLIGHT, step);
}

/** Yields receipts/s signed and stored (baseline: signed only), for both durability settings. */
export async function* run(): AsyncGenerator<BenchRecord> {
  const base = Math.round(await signedOnly());
  const normal = Math.round(await stored('normal', IN_FLIGHT));
  yield { bench: 'receipts', metric: 'receipts_per_s', value: normal, unit: 'receipts/s', baseline: base };
  const full = Math.round(await stored('full', IN_FLIGHT));
  yield {
    bench: 'receipts',
    metric: 'receipts_per_s_fsync',
    value: full,
    unit: 'receipts/s',
    baseline: base,
  };
  const serial = Math.round(await stored('normal', 1));
  yield {
    bench: 'receipts',
    metric: 'receipts_per_s_serial',
    value: serial,
    unit: 'receipts/s',
    baseline: base,
  };
}
