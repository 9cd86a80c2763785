/**
 * Quote verification (issue 3): microseconds to verify one tpm2_quote quote with verifyQuote (parse
 * the AK public area, attestation, signature and PCR file, check every field, verify the signature;
 * target <= 1 ms), against a bare signature verification of the same bytes with a ready KeyObject
 * measured in the same run; `_enrolled_ak` holds the AK's parsed public area as a verifier does. Uses the committed swtpm vectors (packages/core/test/vectors/tpm).
 *
 * Then the agent's quote cycle on an swtpm provisioned here (TpmDriver.quote: the driver's
 * signature check included), three drivers alternating, 20 quotes each: over the resident
 * connection (`wire`: TPM2_Quote and TPM2_PCR_Read sent by the driver, tpm/wire.ts), by one
 * tpm2_quote with the AK at its persistent handle (`tools`), and the old path (akHandle null: EK
 * session, load, quote, flushes). p50 ms, tool processes per quote, and CPU ms per quote of this
 * process and its waited-for children (the tools; /proc/self/stat, 10 ms ticks; not swtpm's own).
 * `*_wire` metrics have the tool path as their baseline.
 */

import { verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { provisionSwtpm, startSwtpm, TpmDriver } from '@tmb/agent/tpm';
import { fromHex, sha256, utf8 } from '@tmb/core';
import { parseSignature, parseTpm2bPublic, publicKeyOf, verifyQuote } from '@tmb/core/tpm';
import { type BenchRecord, percentile } from './record.ts';

const QUOTES = 20;

/** CPU ms used so far by this process and its waited-for children (Linux /proc; 0 elsewhere). */
function cpuMs(): number {
  const own = process.cpuUsage();
  let children = 0;
  try {
    // /proc/self/stat fields 16, 17 (cutime, cstime) in clock ticks (USER_HZ 100), after `(comm)`.
    const f = readFileSync('/proc/self/stat', 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    children = (Number(rest[13]) + Number(rest[14])) * 10;
  } catch {
    children = 0;
  }
  return (own.user + own.system) / 1000 + children;
}

/** Quote cycles of the persistent-handle driver against the load-per-quote one, alternating. */
async function* cycle(): AsyncGenerator<BenchRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-bench-quote-'));
  const swtpm = await startSwtpm(await provisionSwtpm(join(dir, 'swtpm')));
  try {
    const held = new TpmDriver({ tcti: swtpm.tcti, workDir: join(dir, 'work'), transport: 'tools' });
    await held.createAk();
    const loaded = new TpmDriver({ tcti: swtpm.tcti, workDir: join(dir, 'work'), akHandle: null });
    const wire = new TpmDriver({ tcti: swtpm.tcti, workDir: join(dir, 'work'), transport: 'wire' });
    const stats = [held, loaded, wire].map((d) => ({ d, ms: [] as number[], runs: 0, cpu: 0 }));
    for (let i = -1; i < QUOTES; i++)
      for (const s of stats) {
        const [runs, cpu, t0] = [s.d.toolRuns, cpuMs(), performance.now()];
        await s.d.quote([16], sha256(utf8(`bench ${i}`)));
        if (i < 0) continue; // the first quote of each checks the handle: not steady state
        s.ms.push(performance.now() - t0);
        s.runs += s.d.toolRuns - runs;
        s.cpu += cpuMs() - cpu;
      }
    const [now, old, w] = stats.map((s) => ({
      p50: percentile(
        s.ms.sort((a, b) => a - b),
        50,
      ),
      runs: s.runs / QUOTES,
      cpu: s.cpu / QUOTES,
    }));
    if (held.akMode !== 'persistent') throw new Error(`AK not persistent: ${held.akMode}`);
    const r = (x: number) => Number(x.toFixed(1));
    yield { bench: 'quote', metric: 'quote_cycle_ms', value: r(now!.p50), unit: 'ms', baseline: r(old!.p50) };
    yield {
      bench: 'quote',
      metric: 'tool_runs_per_quote',
      value: now!.runs,
      unit: 'processes',
      baseline: old!.runs,
    };
    yield { bench: 'quote', metric: 'quote_cpu_ms', value: r(now!.cpu), unit: 'ms', baseline: r(old!.cpu) };
    if (wire.transport !== 'wire') throw new Error(`wire driver on ${wire.transport}`);
    yield {
      bench: 'quote',
      metric: 'quote_cycle_ms_wire',
      value: r(w!.p50),
      unit: 'ms',
      baseline: r(now!.p50),
    };
    yield {
      bench: 'quote',
      metric: 'tool_runs_per_quote_wire',
      value: w!.runs,
      unit: 'processes',
      baseline: now!.runs,
    };
    yield {
      bench: 'quote',
      metric: 'quote_cpu_ms_wire',
      value: r(w!.cpu),
      unit: 'ms',
      baseline: r(now!.cpu),
    };
    await wire.close();
  } finally {
    await swtpm.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const dir = new URL('../packages/core/test/vectors/tpm/', import.meta.url).pathname;
const read = (f: string) => new Uint8Array(readFileSync(dir + f));

/** Mean microseconds per call of `op` over about `ms` milliseconds, after a warm-up. */
function micros(ms: number, op: () => void): number {
  for (let i = 0; i < 200; i++) op();
  let n = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let k = 0; k < 32; k++) op();
    n += 32;
    now = performance.now();
  }
  return ((now - start) * 1000) / n;
}

export async function* run(): AsyncGenerator<BenchRecord> {
  for (const kind of ['ecc256', 'rsassa'] as const) {
    const q = {
      akPublic: read(`${kind}/ak.pub`),
      attest: read(`${kind}/quote1.msg`),
      signature: read(`${kind}/quote1.sig`),
      pcrs: read(`${kind}/quote1.pcrs`),
      expectedQualifyingData: fromHex(readFileSync(`${dir}${kind}/quote1.nonce`, 'utf8').trim()),
    };
    if (!verifyQuote(q).ok) throw new Error(`${kind} vector does not verify`);
    const key = publicKeyOf(parseTpm2bPublic(q.akPublic));
    const sig = parseSignature(q.signature);
    const raw =
      sig.sigAlg === 0x0018 ? new Uint8Array([...sig.r, ...sig.s]) : (sig as { sig: Uint8Array }).sig;
    const options = sig.sigAlg === 0x0018 ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
    const bare = micros(500, () => {
      if (!verify('sha256', q.attest, options, raw)) throw new Error('bare verify failed');
    });
    const full = micros(500, () => {
      if (!verifyQuote(q).ok) throw new Error('verifyQuote failed');
    });
    // As the verifier does it: the enrolled AK parsed once, every quote's bytes parsed and checked.
    const enrolled = { ...q, akPublic: parseTpm2bPublic(q.akPublic) };
    const held = micros(500, () => {
      if (!verifyQuote(enrolled).ok) throw new Error('verifyQuote failed');
    });
    yield { bench: 'quote', metric: `verify_${kind}_us`, value: full, unit: 'us', baseline: bare };
    yield {
      bench: 'quote',
      metric: `verify_${kind}_enrolled_ak_us`,
      value: held,
      unit: 'us',
      baseline: bare,
    };
  }
  yield* cycle();
}
