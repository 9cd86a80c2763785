import { createHash } from 'node:crypto';
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { concat, sha256, utf8 } from '@tmb/core';
import { BootAlg, EventType, measuredEvent, specIdFor, writeEventLog } from '@tmb/core/boot';
import { buildEntry, type EntryFields, entryToBinary, extendDigest } from '@tmb/core/ima';
import type { TpmDriver } from '../../../src/tpm/driver.ts';

/** The binary ima-ng entry for a file path (digest = SHA-256 of the path, for tests). */
export function entryBytes(path: string, index = 0): Uint8Array {
  const digest = new Uint8Array(createHash('sha256').update(path).digest());
  return entryToBinary(buildEntry({ digest, path }, index));
}

/**
 * A fake securityfs in `dir`: ima/binary_runtime_measurements, ima/runtime_measurements_count
 * and tpm0/binary_bios_measurements, as the simulated kernel lays them out.
 */
export class FakeSecurityfs {
  readonly dir: string;
  count = 0;

  constructor(dir: string) {
    this.dir = dir;
  }

  get binary(): string {
    return join(this.dir, 'ima', 'binary_runtime_measurements');
  }

  async create(bootLog: Uint8Array = new Uint8Array([1, 2, 3])): Promise<this> {
    await mkdir(join(this.dir, 'ima'), { recursive: true });
    await mkdir(join(this.dir, 'tpm0'), { recursive: true });
    await writeFile(this.binary, new Uint8Array(0));
    await writeFile(join(this.dir, 'tpm0', 'binary_bios_measurements'), bootLog);
    this.count = 0;
    await this.#writeCount();
    return this;
  }

  /** Appends raw bytes (possibly a partial entry); `entries` complete entries are counted. */
  async append(bytes: Uint8Array, entries: number): Promise<void> {
    await appendFile(this.binary, bytes);
    this.count += entries;
    await this.#writeCount();
  }

  async #writeCount(): Promise<void> {
    await writeFile(join(this.dir, 'ima', 'runtime_measurements_count'), `${this.count}\n`);
  }
}

/**
 * A simulated kernel over a FakeSecurityfs for tests: logs each entry (binary list and count),
 * then extends PCR 10 of the TPM through `driver`, as the kernel does.
 */
export class TestKernel {
  readonly fs: FakeSecurityfs;
  readonly driver: TpmDriver;
  entries = 0;

  constructor(fs: FakeSecurityfs, driver: TpmDriver) {
    this.fs = fs;
    this.driver = driver;
  }

  /** Logs one entry and extends it; returns its binary bytes. */
  async measure(fields: EntryFields): Promise<Uint8Array> {
    const e = buildEntry(fields, this.entries);
    const bytes = entryToBinary(e);
    await this.fs.append(bytes, 1);
    this.entries++;
    await this.driver.pcrExtend(10, extendDigest(e, 'sha256'));
    return bytes;
  }

  /**
   * A minimal firmware for tests: one EV_SEPARATOR into each of PCRs 0-9, extended through the
   * driver; returns its TCG2 event log (sha256 bank), written to tpm0/binary_bios_measurements.
   */
  async firmware(): Promise<Uint8Array> {
    const spec = specIdFor([BootAlg.SHA256]);
    const events = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((pcr) =>
      measuredEvent(spec, pcr, EventType.EV_SEPARATOR, new Uint8Array(4)),
    );
    for (const e of events) await this.driver.pcrExtend(e.pcr, e.digests[0]!.digest);
    const log = writeEventLog({ specId: spec, events });
    await writeFile(join(this.fs.dir, 'tpm0', 'binary_bios_measurements'), log);
    return log;
  }

  /** The boot's first entries: boot_aggregate over the current PCRs 0-9, and the simulated-kernel event. */
  async boot(): Promise<Uint8Array> {
    const pcrs = await this.driver.pcrRead([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const aggregate = sha256(concat(...[0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => pcrs.get(i)!)));
    const buf = utf8('{"simulated":true,"version":1}');
    return concat(
      await this.measure({ digest: aggregate, path: 'boot_aggregate' }),
      await this.measure({
        template: 'ima-buf',
        digest: sha256(buf),
        path: 'tmb.simulated-kernel',
        extra: buf,
      }),
    );
  }
}
