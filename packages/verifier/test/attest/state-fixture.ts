// Attestation state and archive rows for tests of attest/state.ts, attest/runs.ts and the folded
// log runs: one place that builds an agent's AgentAttest (it was written three times) and the
// bundle archive's quote rows a folded run is judged from.
import type { Check } from '@tmb/core';
import type { AgentAttest } from '../../src/attest/state.ts';
import type { ArchivedQuote } from '../../src/bundle/archive.ts';
import type { Store } from '../../src/store/types.ts';

/** A check that passed (`detail` "test"). */
export const passed = (name: string): Check => ({ name, status: 'pass', detail: 'test' });

/** A quote as the state keeps it (base64url members and a hex nonce; never checked here). */
export const QUOTE = { attest: 'AAAA', signature: 'AAAA', pcrs: 'AAAA', nonce: '00'.repeat(32) };

/**
 * The state of an agent whose AK was activated and that has no quoted checkpoint yet, with the
 * members of `o` over it (a checkpoint, its quote, runs, ended runs...).
 */
export function attestState(o: Partial<AgentAttest> = {}): AgentAttest {
  return {
    ekPublic: 'ek',
    ekCheck: passed('host.ek_certificate'),
    akPublic: 'ak',
    akName: '00',
    activatedAt: 1,
    pcr: 15,
    clock: null,
    ima: null,
    bound: [],
    checkpointKeys: [],
    checkpoint: null,
    checks: [],
    quote: null,
    acceptedAt: null,
    ...o,
  };
}

/**
 * Appends to the store's bundle archive the accepted quote of the checkpoint `cp` of log run `run`
 * from seq `base` (store.appendArchived, as BundleArchive.record does; logs empty): its seq end
 * is base + size. `fresh`: it starts a boot (the archive keeps the newest 16).
 */
export async function archiveQuote(
  store: Pick<Store, 'appendArchived'>,
  agent: string,
  q: { run: number; base: number; cp: { note: string; size: number }; key: string; fresh?: boolean },
): Promise<void> {
  const quote: ArchivedQuote = {
    size: q.cp.size,
    ...(q.run > 0 ? { run: q.run, base: q.base } : {}),
    resetCount: 1,
    note: q.cp.note,
    nonce: QUOTE.nonce,
    quote: { attest: QUOTE.attest, signature: QUOTE.signature, pcrs: QUOTE.pcrs },
    quoted: { telemetryTool: null, upstream: null },
    checkpointKey: q.key,
    tpmKey: null,
    previous: null,
    pcr: 15,
    akPublic: 'ak',
    ekPublic: 'ek',
    ekCertificate: null,
    app: '',
    kernel: null,
    boot: null,
  };
  await store.appendArchived(
    agent,
    { resetCount: 1, seqEnd: q.base + q.cp.size, fresh: q.fresh ?? false, quote: JSON.stringify(quote) },
    16,
  );
}
