import { type FileHandle, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import {
  buildEntry,
  type EntryFields,
  entryToAscii,
  entryToBinary,
  extendDigest,
  type ImaEntry,
  SIMULATED_KERNEL_EVENT,
} from '@tmb/core/ima';

/** The name of the simulated kernel's entry 1 (`@tmb/core/ima`; interface 1 of issue 8). */
export { SIMULATED_KERNEL_EVENT };
/** The buffer of the simulated kernel's entry 1 (`tmb.simulated-kernel`, interface 1 of issue 8). */
export const SIMULATED_KERNEL_BUFFER = new TextEncoder().encode('{"simulated":true,"version":1}');

/**
 * The simulated securityfs (docs/kernel.md): `ima/binary_runtime_measurements`,
 * `ima/ascii_runtime_measurements`, `ima/runtime_measurements_count`, `tpm0/`. Opening it starts
 * a new boot: the files are emptied. `append` logs one entry to both forms (one write each),
 * updates the count and then extends PCR 10 with SHA-256(template data) (0xFF.. for a violation), serialised, so the log's
 * order is the PCR's order and an entry is in the log before its extend, as the kernel does
 * (ima_add_template_entry: list add, then ima_pcr_extend).
 */
export class SecurityFs {
  readonly dir: string;
  #bin: FileHandle;
  #ascii: FileHandle;
  #count: FileHandle;
  #n = 0;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #extend: (digest: Uint8Array) => Promise<void>;

  private constructor(
    dir: string,
    files: [FileHandle, FileHandle, FileHandle],
    extend: (d: Uint8Array) => Promise<void>,
  ) {
    this.dir = dir;
    [this.#bin, this.#ascii, this.#count] = files;
    this.#extend = extend;
  }

  /** Creates (or empties) the files under `dir`; `extend` extends sha256 PCR 10. */
  static async create(dir: string, extend: (digest: Uint8Array) => Promise<void>): Promise<SecurityFs> {
    await mkdir(join(dir, 'ima'), { recursive: true });
    await mkdir(join(dir, 'tpm0'), { recursive: true });
    const bin = await open(join(dir, 'ima', 'binary_runtime_measurements'), 'w');
    const ascii = await open(join(dir, 'ima', 'ascii_runtime_measurements'), 'w');
    const count = await open(join(dir, 'ima', 'runtime_measurements_count'), 'w');
    await count.write('0\n', 0);
    // Appends go through O_APPEND handles so that a reader never sees a hole.
    await Promise.all([bin.close(), ascii.close()]);
    const files: [FileHandle, FileHandle, FileHandle] = [
      await open(join(dir, 'ima', 'binary_runtime_measurements'), 'a'),
      await open(join(dir, 'ima', 'ascii_runtime_measurements'), 'a'),
      count,
    ];
    return new SecurityFs(dir, files, extend);
  }

  /** Entries logged so far. */
  get count(): number {
    return this.#n;
  }

  /**
   * Logs one entry (index = its place in the log) and extends PCR 10. An extend that fails is
   * reported by the returned promise; the entry stays logged (the kernel, too, keeps an entry
   * whose extend failed, and the PCR no longer replays: a verifier sees it).
   */
  append(fields: EntryFields): Promise<ImaEntry> {
    const run = this.#chain.then(async () => {
      const entry = buildEntry(fields, this.#n);
      await this.#bin.write(entryToBinary(entry));
      await this.#ascii.write(entryToAscii(entry));
      this.#n++;
      // The count only grows, so the new text is never shorter than the old: no truncation needed.
      await this.#count.write(`${this.#n}\n`, 0);
      await this.#extend(extendDigest(entry, 'sha256')); // SHA-256(template data); all 0xFF for a violation
      return entry;
    });
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Waits for pending appends and closes the files. */
  async close(): Promise<void> {
    await this.#chain;
    await Promise.all([this.#bin.close(), this.#ascii.close(), this.#count.close()]);
  }
}
