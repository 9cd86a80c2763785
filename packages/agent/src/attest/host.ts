import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesEqual, concat, toHex } from '@tmb/core';
import {
  AGENT_KEY_EVENT,
  entryToBinary,
  type ImaEntry,
  parseBinaryLog,
  pcrInitialValue,
  replay,
} from '@tmb/core/ima';
import { MeasurementLog } from '../measure/log.ts';
import { isBindablePcr } from '../options.ts';
import { TpmDriver } from '../tpm/driver.ts';
import { TpmDriverError } from '../tpm/errors.ts';
import type { TctiConfig } from '../tpm/tcti.ts';

/** The attested host as the agent holds it after start: TPM, AK and the boot's measurement log. */
export interface AttestHost {
  driver: TpmDriver;
  /** The application PCR (sha256 bank) holding the measurement log and the key binding. */
  pcr: number;
  ek: { public: Uint8Array; certificate: Uint8Array | null };
  ak: { public: Uint8Array; name: Uint8Array };
  /** This run's measurement log (weights, engine... go here too). */
  measure: MeasurementLog;
  /** Entries of the boot's log (earlier runs of this boot first), as many as are logged now. */
  entryCount(): number;
  /** The binary ima-ng form of the boot's entries from `from` on. */
  entriesFrom(from: number): Uint8Array;
  /**
   * After a TPM reset (the PCR back at its reset value): starts the boot's log over, the key
   * binding first, then every file measured before, read again now (MeasurementLog.newBoot).
   * @throws TpmDriverError TPM_UNAVAILABLE when the PCR is not at its reset value (another
   *   program extended it since the reset: what it logged is unknown, so nothing is logged)
   */
  newBoot(): Promise<void>;
}

/**
 * Opens the TPM and prepares this start's attestation: the EK (public area and certificate),
 * a fresh AK under it, and the signing-key binding: SHA-256 of the raw agent public key
 * extended into `pcr` as the ima-buf event `tmb.agent-key` (buffer = the key) of the agent's
 * measurement log. The log is kept in `dataDir/measure-pcr<N>.bin` for the whole boot, so an
 * agent restarted without a reboot continues it; a log the PCR no longer matches is dropped
 * when the PCR is back at its reset value (a new boot).
 * @throws TpmDriverError TPM_UNAVAILABLE when no TPM answers, or when `pcr` holds measurements
 *   this agent did not log (another program extends it: pick another PCR).
 */
export async function openHost(o: {
  tcti: TctiConfig;
  dataDir: string;
  pcr: number;
  publicKey: Uint8Array;
  /** How hot commands reach the TPM (TpmDriverOptions.transport; default `auto`). */
  transport?: 'auto' | 'wire' | 'tools';
}): Promise<AttestHost> {
  if (!isBindablePcr(o.pcr)) throw new RangeError(`application PCR must be 8..15, found ${o.pcr}`);
  const driver = new TpmDriver({ tcti: o.tcti, workDir: join(o.dataDir, 'tpm'), transport: o.transport });
  await driver.open();
  const path = join(o.dataDir, `measure-pcr${o.pcr}.bin`);
  let prior = await priorEntries(driver, path, o.pcr);
  const measure = new MeasurementLog({
    pcrIndex: o.pcr,
    binaryPath: path,
    extend: (pcr, digest) => driver.pcrExtend(pcr, digest),
  });
  const ekPublic = await driver.readEkPublic();
  const ekCert = await driver.readEkCertificate();
  const ak = await driver.createAk();
  await measure.measureBuffer(AGENT_KEY_EVENT, o.publicKey);
  const all = () => [...prior, ...measure.entries];
  return {
    driver,
    pcr: o.pcr,
    ek: { public: ekPublic, certificate: ekCert },
    ak,
    measure,
    entryCount: () => prior.length + measure.entries.length,
    entriesFrom: (from) => concat(...all().slice(from).map(entryToBinary)),
    newBoot: async () => {
      const current = (await driver.pcrRead([o.pcr])).get(o.pcr);
      if (current === undefined || !bytesEqual(current, pcrInitialValue(o.pcr, 'sha256')))
        throw new TpmDriverError(
          'TPM_UNAVAILABLE',
          `after a TPM reset PCR ${o.pcr} holds ${current === undefined ? 'nothing readable' : `${toHex(current).slice(0, 16)}…`}, not its reset value: another program extended it`,
        );
      prior = [];
      await measure.newBoot([{ name: AGENT_KEY_EVENT, bytes: o.publicKey }]);
    },
  };
}

async function priorEntries(driver: TpmDriver, path: string, pcr: number): Promise<ImaEntry[]> {
  const current = (await driver.pcrRead([pcr])).get(pcr);
  if (current === undefined)
    throw new TpmDriverError('TPM_UNAVAILABLE', `PCR ${pcr} of the sha256 bank cannot be read`);
  let entries: ImaEntry[] = [];
  if (existsSync(path)) {
    try {
      entries = parseBinaryLog(new Uint8Array(await readFile(path)));
    } catch {
      entries = [];
    }
  }
  if (bytesEqual(replay(entries, { pcrIndex: pcr, bank: 'sha256' }).pcr, current)) return entries;
  if (bytesEqual(current, pcrInitialValue(pcr, 'sha256'))) {
    await writeFile(path, new Uint8Array(0));
    return [];
  }
  throw new TpmDriverError(
    'TPM_UNAVAILABLE',
    `PCR ${pcr} holds ${toHex(current).slice(0, 16)}…, which this agent's measurement log does not account for: another program extends it, or the log ${path} was lost; use another application PCR (8..15) or reboot`,
  );
}
