/**
 * The scale bench's same-run floors, in this thread with no HTTP and no store: what one evidence
 * appraisal must at least do (open the checkpoint note under its Ed25519 and TPM ECDSA
 * signatures, recompute the qualifying data, verify the quote with its PCR file against the AK),
 * and what one receipt must (core checkSignedReceipt). Both on real TPM output: a quote and a
 * note signature made here by the swtpm. Both are per second of CPU time.
 */
import { createHash, sign } from 'node:crypto';
import { generateAgentKey } from '@tmb/agent';
import { checkpointSigner } from '@tmb/agent/log';
import {
  checkSignedReceipt,
  encodeReceiptBody,
  type ReceiptBody,
  receiptSigningMessage,
  toSignedReceipt,
} from '@tmb/core';
import { quoteQualifyingData } from '@tmb/core/host';
import {
  ecdsaNoteSigner,
  ecdsaNoteVerifier,
  ed25519NoteVerifier,
  leafHash,
  logOrigin,
  openCheckpoint,
  rootFromLeafHashes,
  signCheckpoint,
} from '@tmb/core/log';
import { parseTpm2bPublic, tpmName, verifyQuote } from '@tmb/core/tpm';
import { chatFields } from '../servers.ts';
import { withPcr10 } from './kernel.ts';
import { TpmSocket } from './tpm.ts';
import { QUOTE_PCRS, type TpmHost } from './tpms.ts';

/**
 * Runs `fn` `n` times (at most `ms`); returns calls per second of this process's CPU time (the
 * caller's other threads idle), so that a machine shared with other work does not lower it.
 */
function rate(n: number, ms: number, fn: () => void): number {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let i = 0;
  for (; i < n && performance.now() - t0 < ms; i++) fn();
  const c = process.cpuUsage(c0);
  return i / ((c.user + c.system) / 1e6);
}

/**
 * Evidence appraisals' signature and parse floor per second, on one real quote. `pcr10`: the
 * TPM's PCR 10 now, when a simulated kernel has extended it since setup.
 */
export async function appraisalFloor(
  host: TpmHost,
  pcr10: Uint8Array | null = null,
  ms = 3_000,
): Promise<number> {
  const pcrs = pcr10 === null ? host.pcrsFile : withPcr10(host.pcrsFile, pcr10);
  const name = 'scale-floor';
  const origin = logOrigin(name);
  const key = generateAgentKey(name);
  const tpm = await TpmSocket.open(host.port);
  try {
    const c = host.ckey;
    const tpmSigner = ecdsaNoteSigner(origin, c.spki, async (text) => {
      return tpm.sign(c.handle, c.auth, new Uint8Array(createHash('sha256').update(text).digest()));
    });
    const root = rootFromLeafHashes([leafHash(new Uint8Array([1]))]);
    const note = await signCheckpoint({ origin, size: 1, root, extensions: [] }, [
      checkpointSigner(origin, key),
      tpmSigner,
    ]);
    const nonce = new Uint8Array(32).fill(7);
    const members = { telemetryTool: null, upstream: null };
    const q = await tpm.quote(host.akHandle, quoteQualifyingData(nonce, note, members), QUOTE_PCRS);
    const ak = parseTpm2bPublic(host.akPublic);
    const akName = tpmName(ak);
    const verifiers = [ed25519NoteVerifier(origin, key.publicKey), ecdsaNoteVerifier(origin, c.spki)];
    return rate(2_000, ms, () => {
      const opened = openCheckpoint(note, verifiers, origin);
      const r = verifyQuote({
        attest: q.attest,
        signature: q.signature,
        akPublic: ak,
        akName,
        pcrs,
        expectedQualifyingData: quoteQualifyingData(nonce, note, members),
        requirePcrs: true,
      });
      if (!opened.ok || !r.ok)
        throw new Error(
          `floor: the sample does not verify: ${JSON.stringify([opened, r.checks.filter((c) => c.status !== 'pass')])}`,
        );
    });
  } finally {
    tpm.close();
  }
}

/** core checkSignedReceipt per second on fresh receipts (at most `ms` of work). */
export function receiptFloor(ms = 3_000): number {
  const key = generateAgentKey('scale-floor');
  const now = Date.now() * 1000;
  const receipts = Array.from({ length: 2_000 }, (_, seq) => {
    const body: ReceiptBody = {
      v: 2,
      type: 'tmb.receipt',
      agent: 'scale-floor',
      key: key.keyId,
      seq,
      ...chatFields(seq, now),
      served: { weights: null, engine: null },
    };
    const bytes = encodeReceiptBody(body);
    return toSignedReceipt(bytes, new Uint8Array(sign(null, receiptSigningMessage(bytes), key.privateKey)));
  });
  let i = 0;
  return rate(receipts.length, ms, () => {
    const c = checkSignedReceipt(receipts[i++]!, () => key.publicKey);
    if (c.checks[1]?.status !== 'pass') throw new Error('floor: receipt does not verify');
  });
}
