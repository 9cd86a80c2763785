import { createHash } from 'node:crypto';
import { type FileHandle, open, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  buildEntry,
  entryToAscii,
  entryToBinary,
  extendDigest,
  type ImaEntry,
  MANIFEST_EVENT,
  parseAsciiLog,
  parseBinaryLog,
} from '@tmb/core/ima';
import { fileStamp, hashFile, listFiles, manifest } from './files.ts';

/**
 * Extends one PCR's sha256 bank with a digest (TPM2_PCR_Extend). The TPM driver supplies it;
 * tests pass a software PCR.
 */
export type ExtendFn = (pcrIndex: number, sha256Digest: Uint8Array) => Promise<void> | void;

/** Options of the agent's measurement log. */
export interface MeasurementLogOptions {
  /** Called once per entry, in log order, after the entry is logged (the kernel's order). */
  extend: ExtendFn;
  /**
   * The application PCR. No default on purpose: it must be the one the TPM driver quotes and
   * binds the signing key into, and it should be one software cannot reset (not 16 or 23,
   * which locality 0 may reset, letting a root user rewrite the history).
   */
  pcrIndex: number;
  /** Append-only file for the binary form. Left out: kept in memory only. */
  binaryPath?: string;
  /** Append-only file for the ASCII form. Left out: kept in memory only. */
  asciiPath?: string;
}

interface Tracked {
  kind: 'file' | 'dir';
  path: string;
  /** Last logged digest (hex): the file's, or the directory manifest's. */
  digest: string;
  /** Per file: stamp and digest at the last measurement. */
  files: Map<string, { stamp: string; hex: string }>;
}

/**
 * The agent's own measurement log, in the kernel's `ima-ng` format: files it is told to
 * measure (weights, the model server's executable and configuration, its own build) and
 * events (the signing-key binding). Every entry is appended to both forms and extended into
 * the application PCR's sha256 bank. Entries are never rewritten: a file that changes gets a
 * new entry. Calls are serialised, so the PCR sees entries in log order.
 */
export class MeasurementLog {
  readonly pcrIndex: number;
  readonly #options: MeasurementLogOptions;
  readonly #entries: ImaEntry[] = [];
  readonly #tracked = new Map<string, Tracked>();
  #queue: Promise<unknown> = Promise.resolve();
  /**
   * The files, opened for appending once and written through these handles: the agent never
   * opens or reads its own log again while it runs (a host's IMA measures a changed file each
   * time root opens it for reading; docs/evidence.md, "Files the agent reads").
   */
  #handles: { binary?: FileHandle; ascii?: FileHandle } = {};

  constructor(options: MeasurementLogOptions) {
    this.#options = options;
    this.pcrIndex = options.pcrIndex;
  }

  /**
   * A log that continues the one already in `binaryPath` (else `asciiPath`), for an agent that
   * restarts while the PCR keeps its extends. Keep the files on a tmpfs (e.g. /run/tmb), so a
   * reboot, which resets the PCR, also empties the log. Files measured before are not tracked
   * again until measured again (which appends new entries).
   * @throws ImaParseError when the existing file is not a log
   */
  static async open(options: MeasurementLogOptions): Promise<MeasurementLog> {
    const log = new MeasurementLog(options);
    const existing = async (path: string | undefined) =>
      path === undefined
        ? null
        : readFile(path).catch((err: NodeJS.ErrnoException) =>
            err.code === 'ENOENT' ? null : Promise.reject(err),
          );
    const bin = await existing(options.binaryPath);
    const text = bin === null ? await existing(options.asciiPath) : null;
    if (bin !== null) log.#entries.push(...parseBinaryLog(new Uint8Array(bin)));
    else if (text !== null) log.#entries.push(...parseAsciiLog(new Uint8Array(text)));
    return log;
  }

  /** Entries so far, in order. */
  get entries(): readonly ImaEntry[] {
    return this.#entries;
  }

  /** The binary form of the entries from `from` on (evidence after an appraised index). */
  binary(from = 0): Uint8Array {
    const parts = this.#entries.slice(from).map(entryToBinary);
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /** The ASCII form of the entries from `from` on. */
  ascii(from = 0): string {
    return this.#entries.slice(from).map(entryToAscii).join('');
  }

  /** Measures one file (streamed SHA-256) as an ima-ng entry named by its absolute path. */
  measureFile(path: string): Promise<ImaEntry> {
    return this.#serial(async () => {
      const abs = resolve(path);
      const stamp = await fileStamp(abs);
      const digest = await hashFile(abs);
      const entry = await this.#append({ digest, path: abs });
      this.#tracked.set(abs, {
        kind: 'file',
        path: abs,
        digest: entry.digest,
        files: new Map([[abs, { stamp, hex: entry.digest }]]),
      });
      return entry;
    });
  }

  /**
   * Measures every file under a directory (sorted), then logs the directory's manifest as an
   * ima-buf event `tmb.manifest:<dir>` whose digest is the directory's digest.
   * @returns the manifest digest (`sha256:<hex>`) and the entries appended
   */
  measureDirectory(dir: string): Promise<{ digest: string; entries: ImaEntry[] }> {
    return this.#serial(async () => {
      const abs = resolve(dir);
      const t: Tracked = { kind: 'dir', path: abs, digest: '', files: new Map() };
      const entries = await this.#scanDirectory(t, true);
      this.#tracked.set(abs, t);
      return { digest: `sha256:${t.digest}`, entries };
    });
  }

  /** Logs an event whose content is `bytes` (ima-buf, digest SHA-256 of the bytes), e.g. AGENT_KEY_EVENT. */
  measureBuffer(name: string, bytes: Uint8Array): Promise<ImaEntry> {
    return this.#serial(async () => {
      const digest = new Uint8Array(createHash('sha256').update(bytes).digest());
      return this.#append({ template: 'ima-buf', digest, path: name, extra: bytes });
    });
  }

  /**
   * Measures every tracked file and directory again and appends an entry for each that
   * changed (files whose size, times and inode are unchanged are not re-hashed).
   * @returns the entries appended (none when nothing changed)
   */
  remeasure(): Promise<ImaEntry[]> {
    return this.#serial(async () => {
      const out: ImaEntry[] = [];
      for (const t of this.#tracked.values()) {
        if (t.kind === 'dir') {
          out.push(...(await this.#scanDirectory(t, false)));
          continue;
        }
        const stamp = await fileStamp(t.path);
        if (t.files.get(t.path)?.stamp === stamp) continue;
        const digest = await hashFile(t.path);
        const hex = Buffer.from(digest).toString('hex');
        t.files.set(t.path, { stamp, hex });
        if (hex === t.digest) continue;
        const e = await this.#append({ digest, path: t.path });
        t.digest = e.digest;
        out.push(e);
      }
      return out;
    });
  }

  /**
   * Starts the log over for a new boot of the TPM (a reset brought the PCR back to its reset
   * value: attest/host.ts checks that first): the files are emptied, `events` are logged first
   * (the signing-key binding), then every tracked file and directory is read and measured again,
   * now. Nothing logged before is carried over: an earlier boot's entries never count for this one.
   * @returns the entries of the new log
   */
  newBoot(events: readonly { name: string; bytes: Uint8Array }[]): Promise<ImaEntry[]> {
    return this.#serial(async () => {
      const { binary, ascii } = this.#handles;
      this.#handles = {};
      await binary?.close();
      await ascii?.close();
      for (const path of [this.#options.binaryPath, this.#options.asciiPath])
        if (path !== undefined) await writeFile(path, new Uint8Array(0));
      this.#entries.length = 0;
      for (const e of events) {
        const digest = new Uint8Array(createHash('sha256').update(e.bytes).digest());
        await this.#append({ template: 'ima-buf', digest, path: e.name, extra: e.bytes });
      }
      for (const t of this.#tracked.values()) {
        if (t.kind === 'dir') {
          t.files = new Map();
          await this.#scanDirectory(t, true);
          continue;
        }
        const stamp = await fileStamp(t.path);
        const entry = await this.#append({ digest: await hashFile(t.path), path: t.path });
        t.digest = entry.digest;
        t.files = new Map([[t.path, { stamp, hex: entry.digest }]]);
      }
      return [...this.#entries];
    });
  }

  /** Calls remeasure() every `intervalMs` until the returned function is called. The timer does not keep the process alive. */
  watch(intervalMs: number, onError: (err: unknown) => void = () => {}): () => void {
    const timer = setInterval(() => this.remeasure().catch(onError), intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  async #scanDirectory(t: Tracked, first: boolean): Promise<ImaEntry[]> {
    const out: ImaEntry[] = [];
    const rels: { rel: string; hex: string }[] = [];
    const seen = new Map<string, { stamp: string; hex: string }>();
    for (const file of await listFiles(t.path)) {
      const stamp = await fileStamp(file);
      const before = t.files.get(file);
      let hex = before?.hex;
      if (before === undefined || before.stamp !== stamp) {
        const digest = await hashFile(file);
        hex = Buffer.from(digest).toString('hex');
        if (first || before?.hex !== hex) out.push(await this.#append({ digest, path: file }));
      }
      seen.set(file, { stamp, hex: hex! });
      rels.push({
        rel: file
          .slice(t.path.length + 1)
          .split('\\')
          .join('/'),
        hex: hex!,
      });
    }
    t.files = seen;
    const m = manifest(rels);
    const hex = createHash('sha256').update(m).digest('hex');
    if (first || hex !== t.digest) {
      out.push(
        await this.#append({
          template: 'ima-buf',
          digest: Buffer.from(hex, 'hex'),
          path: `${MANIFEST_EVENT}${t.path}`,
          extra: m,
        }),
      );
      t.digest = hex;
    }
    return out;
  }

  async #append(fields: Parameters<typeof buildEntry>[0]): Promise<ImaEntry> {
    const entry = buildEntry({ ...fields, pcr: this.pcrIndex }, this.#entries.length);
    const { binaryPath, asciiPath } = this.#options;
    // Log first, then extend, as the kernel does: a crash in between leaves the log ahead of
    // the PCR, which a verifier tolerates for one round; the reverse would be a mismatch.
    if (binaryPath !== undefined) {
      this.#handles.binary ??= await open(binaryPath, 'a');
      await this.#handles.binary.appendFile(entryToBinary(entry));
    }
    if (asciiPath !== undefined) {
      this.#handles.ascii ??= await open(asciiPath, 'a');
      await this.#handles.ascii.appendFile(entryToAscii(entry));
    }
    this.#entries.push(entry);
    await this.#options.extend(this.pcrIndex, extendDigest(entry, 'sha256'));
    return entry;
  }

  /** Closes the log's files after the measurements in flight (a later measurement opens them again). */
  close(): Promise<void> {
    return this.#serial(async () => {
      const { binary, ascii } = this.#handles;
      this.#handles = {};
      await binary?.close();
      await ascii?.close();
    });
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => {});
    return run;
  }
}
