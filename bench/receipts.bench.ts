/**
 * Receipts signed and stored durably per second on one core, with the agent's own ReceiptSigner
 * and ReceiptStore (SQLite WAL, group commit), all in this one thread. Receipts are issued 256
 * at a time, as concurrent exchanges would issue them; `_serial` awaits each one alone (one
 * commit per receipt, the worst case). Baseline: the same loop, encoding and signing only.
 * Bounded: at most 100,000 receipts or 3 s a measurement.
 *
 * `receipt_cpu_us_batch7`: this thread's CPU time per receipt (process.threadCpuUsage, which the
 * other processes of a shared machine do not inflate) issued 7 at a time (the batch the proxy
 * bench's 16 clients make), against core's encodeReceiptBody plus signing alone: the figure that
 * compares two builds of the receipt path.
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

/** Thread CPU µs per receipt of `step(i)`, run in groups of `batch`, `count` in all (after a warm-up). */
async function cpuPer(batch: number, step: (i: number) => unknown, count = 14_000): Promise<number> {
  let n = 0;
  const rounds = async (k: number) => {
    for (let end = n + k; n < end; ) {
      const group: unknown[] = [];
      for (let j = 0; j < batch; j++) group.push(step(n++));
      await Promise.all(group);
    }
  };
  await rounds(2_002);
  const c0 = process.threadCpuUsage();
  const n0 = n;
  await rounds(count);
  const c = process.threadCpuUsage(c0);
  return (c.user + c.system) / (n - n0);
}

/** Thread CPU µs per receipt signed and stored in batches of 7 (ReceiptSigner.issue), and signed only. */
async function cpuPerReceipt(): Promise<{ stored: number; signed: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-receipts-'));
  const store = new ReceiptStore(dir, 'normal');
  try {
    const key = generateAgentKey('bench');
    const signer = new ReceiptSigner('bench', key, store, Date.now() * 1000);
    const stored = await cpuPer(7, (i) => signer.issue(chatFields(i)));
    const signed = await cpuPer(7, (i) => {
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
    });
    return { stored, signed };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
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
  const cpu = await cpuPerReceipt();
  yield {
    bench: 'receipts',
    metric: 'receipt_cpu_us_batch7',
    value: Math.round(cpu.stored * 10) / 10,
    unit: 'us',
    baseline: Math.round(cpu.signed * 10) / 10,
  };
}
