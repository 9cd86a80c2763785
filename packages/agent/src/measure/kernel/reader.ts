import { constants } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentError } from '../../errors.ts';
import { frameEntries, parseMeasurementCount } from './frame.ts';

/** Options of a KernelLog. */
export interface KernelLogOptions {
  /** The securityfs mount: `/sys/kernel/security` on a host, a folder of the simulated kernel in development. */
  securityfs: string;
  /** Bytes per read(2). Default 1 MiB: a securityfs file has no useful size, so it is read in chunks until EOF. */
  chunkBytes?: number;
  /** Bytes one `read()` takes at most; the rest waits for the next. Default 64 MiB (a 300,000-entry log is about 40 MB). */
  maxReadBytes?: number;
}

/** The most the boot event log may hold (docs/evidence.md): larger is KERNEL_LOG_UNREADABLE. */
export const BOOT_LOG_MAX_BYTES = 1 << 20;

/** What one `read()` found. */
export interface KernelRead {
  /** Complete entries added. */
  added: number;
  /** The file was replaced or shrank (a reboot of the simulated kernel): the log started over from entry 0. */
  restarted: boolean;
  /** Bytes are left past maxReadBytes: read again. */
  more: boolean;
}

/**
 * The kernel's IMA measurement list, read incrementally from
 * `<securityfs>/ima/binary_runtime_measurements` (docs/evidence.md, "Kernel log"): each read
 * takes only the bytes past those already read, keeps complete entries only (a truncated tail
 * waits for the next read) and checks them with core's parser. Entries are addressed by index:
 * `entriesFrom(n)` gives the binary bytes of entries n.. for evidence. Memory: the offset of
 * every entry (8 bytes each) and the bytes of entries not yet acknowledged (`acknowledge`, once
 * the verifier has them); acknowledged entries asked for again are read back from the file.
 *
 * A malformed entry stops the log there (`error`); the reader keeps the entries before it and
 * never throws for the log's contents.
 */
export class KernelLog {
  readonly securityfs: string;
  /** The binary list's path. */
  readonly path: string;
  readonly #chunk: number;
  readonly #max: number;
  #fd: FileHandle | undefined;
  #ino = -1;
  /** Start offset of every entry read, then the end of the last one (length = count + 1). */
  #offsets: number[] = [0];
  /** First entry whose bytes are held in #held. */
  #base = 0;
  /** Bytes from #offsets[#base] to the end of the last complete entry, then the incomplete tail. */
  #held = new Uint8Array(0);
  #heldLen = 0;
  #reading: Promise<KernelRead> | undefined;
  /** Entries below this are acknowledged (dropped at the next chance). */
  #ack = 0;
  /** The first malformed entry's error: the log stops there until it restarts. */
  error: AgentError | null = null;

  constructor(o: KernelLogOptions) {
    this.securityfs = o.securityfs;
    this.path = join(o.securityfs, 'ima', 'binary_runtime_measurements');
    this.#chunk = o.chunkBytes ?? 1 << 20;
    this.#max = o.maxReadBytes ?? 64 << 20;
  }

  /** Complete entries read so far. */
  get count(): number {
    return this.#offsets.length - 1;
  }

  /** Bytes of entries held in memory (not yet acknowledged), for tests and logs. */
  get heldBytes(): number {
    return this.#end() - this.#offsets[this.#base]!;
  }

  #end(): number {
    return this.#offsets[this.#offsets.length - 1]!;
  }

  /**
   * Reads what the kernel appended since the last read (one read at a time).
   * @throws AgentError KERNEL_LOG_UNREADABLE when the file cannot be opened or read
   */
  read(): Promise<KernelRead> {
    this.#reading ??= this.#read().finally(() => {
      this.#reading = undefined;
    });
    return this.#reading;
  }

  async #read(): Promise<KernelRead> {
    const restarted = await this.#checkSameFile();
    this.#drop();
    if (this.error !== null) return { added: 0, restarted, more: false };
    const fd = this.#fd!;
    const before = this.count;
    const tailAt = this.#offsets[this.#base]!;
    let pos = tailAt + this.#heldLen; // the file offset after the bytes held
    let taken = 0;
    let more = false;
    for (;;) {
      if (taken >= this.#max) {
        more = true;
        break;
      }
      this.#reserve(this.#chunk);
      const { bytesRead } = await fd
        .read(this.#held, this.#heldLen, this.#chunk, pos)
        .catch((cause: unknown) => Promise.reject(unreadable(this.path, cause)));
      if (bytesRead === 0) break;
      this.#heldLen += bytesRead;
      pos += bytesRead;
      taken += bytesRead;
    }
    // Frame from the first byte past the complete entries: only the tail and what was read.
    const done = this.#end();
    const framed = frameEntries(this.#held.subarray(done - tailAt, this.#heldLen), this.count, done);
    for (const end of framed.ends) this.#offsets.push(done + end);
    if (framed.error !== null) {
      this.error = framed.error;
      this.#heldLen = this.#end() - tailAt; // the bad entry and what follows are not kept
    }
    return { added: this.count - before, restarted, more };
  }

  /** Opens the file, or reopens it when it was replaced or shrank (a restarted simulated kernel): starts over. */
  async #checkSameFile(): Promise<boolean> {
    let restarted = false;
    if (this.#fd !== undefined) {
      const now = await stat(this.path).catch(() => null);
      const regular = now?.isFile() === true && now.size > 0;
      // securityfs reports size 0: only a replaced inode shows there; a regular file may also shrink.
      if (
        now === null ||
        now.ino !== this.#ino ||
        (regular && now.size < this.#offsets[this.#base]! + this.#heldLen)
      ) {
        await this.#fd.close().catch(() => {});
        this.#fd = undefined;
        this.#offsets = [0];
        this.#base = 0;
        this.#heldLen = 0;
        this.#ack = 0;
        this.error = null;
        restarted = true;
      }
    }
    if (this.#fd === undefined) {
      try {
        this.#fd = await open(this.path, constants.O_RDONLY);
        this.#ino = (await this.#fd.stat()).ino;
      } catch (cause) {
        this.#fd = undefined;
        throw unreadable(this.path, cause);
      }
    }
    return restarted;
  }

  #reserve(n: number): void {
    if (this.#held.length - this.#heldLen >= n) return;
    const grown = new Uint8Array(Math.max(this.#heldLen + n, this.#held.length * 2));
    grown.set(this.#held.subarray(0, this.#heldLen));
    this.#held = grown;
  }

  /**
   * The binary bytes of entries `from`..count-1 (complete entries only, as read so far).
   * Entries already acknowledged are read back from the file.
   * @throws RangeError when `from` is past count; AgentError KERNEL_LOG_UNREADABLE when
   *   acknowledged entries cannot be read back
   */
  async entriesFrom(from: number): Promise<Uint8Array> {
    if (!Number.isSafeInteger(from) || from < 0 || from > this.count)
      throw new RangeError(`entriesFrom(${from}): the log holds ${this.count} entries`);
    const start = this.#offsets[from]!;
    const heldAt = this.#offsets[this.#base]!;
    const heldEnd = this.#end();
    if (from >= this.#base) return this.#held.slice(start - heldAt, heldEnd - heldAt);
    const out = new Uint8Array(heldEnd - start);
    const fd = this.#fd;
    if (fd === undefined) throw unreadable(this.path, new Error('not open'));
    let at = 0;
    while (at < heldAt - start) {
      const { bytesRead } = await fd
        .read(out, at, heldAt - start - at, start + at)
        .catch((cause: unknown) => Promise.reject(unreadable(this.path, cause)));
      if (bytesRead === 0)
        throw unreadable(this.path, new Error(`ended at byte ${start + at}: the log shrank`));
      at += bytesRead;
    }
    out.set(this.#held.subarray(0, heldEnd - heldAt), heldAt - start);
    return out;
  }

  /**
   * Drops the bytes of entries below `n` (the verifier holds them); their offsets are kept. A
   * read in flight writes into the buffer: then the drop waits for the next read to start.
   */
  acknowledge(n: number): void {
    this.#ack = Math.max(this.#ack, n);
    if (this.#reading === undefined) this.#drop();
  }

  #drop(): void {
    const upTo = Math.min(this.#ack, this.count);
    if (upTo <= this.#base) return;
    const cut = this.#offsets[upTo]! - this.#offsets[this.#base]!;
    const rest = this.#heldLen - cut;
    // Shrink the buffer once it is mostly empty, so a large first log does not stay allocated.
    if (this.#held.length > 4 * Math.max(rest, this.#chunk)) {
      const smaller = new Uint8Array(Math.max(rest, this.#chunk));
      smaller.set(this.#held.subarray(cut, this.#heldLen));
      this.#held = smaller;
    } else this.#held.copyWithin(0, cut, this.#heldLen);
    this.#heldLen = rest;
    this.#base = upTo;
  }

  /**
   * The kernel's count of measurements, from `ima/runtime_measurements_count` (a few bytes:
   * cheap to poll); where that file is missing, the binary log is read and its count returned.
   * @throws AgentError KERNEL_LOG_MALFORMED for a count that is not decimal;
   *   KERNEL_LOG_UNREADABLE when neither file can be read
   */
  async measuredCount(): Promise<number> {
    let fd: FileHandle;
    try {
      fd = await open(join(this.securityfs, 'ima', 'runtime_measurements_count'), constants.O_RDONLY);
    } catch {
      await this.read();
      return this.count;
    }
    try {
      const buf = new Uint8Array(32);
      const { bytesRead } = await fd.read(buf, 0, buf.length, 0);
      return parseMeasurementCount(buf.subarray(0, bytesRead));
    } finally {
      await fd.close();
    }
  }

  /**
   * The boot's TCG2 event log, `<securityfs>/tpm0/binary_bios_measurements`, whole (bounded).
   * @throws AgentError KERNEL_LOG_UNREADABLE when it is missing, unreadable or over 1 MiB
   */
  async bootLog(): Promise<Uint8Array> {
    const path = join(this.securityfs, 'tpm0', 'binary_bios_measurements');
    let fd: FileHandle;
    try {
      fd = await open(path, constants.O_RDONLY);
    } catch (cause) {
      throw unreadable(path, cause);
    }
    try {
      const buf = new Uint8Array(BOOT_LOG_MAX_BYTES + 1);
      let len = 0;
      for (;;) {
        const { bytesRead } = await fd.read(buf, len, Math.min(64 << 10, buf.length - len), len);
        if (bytesRead === 0) break;
        len += bytesRead;
        if (len > BOOT_LOG_MAX_BYTES)
          throw new AgentError('KERNEL_LOG_UNREADABLE', `${path} is over ${BOOT_LOG_MAX_BYTES} bytes`);
      }
      return buf.slice(0, len);
    } catch (err) {
      throw err instanceof AgentError ? err : unreadable(path, err);
    } finally {
      await fd.close();
    }
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.#reading?.catch(() => {});
    await this.#fd?.close().catch(() => {});
    this.#fd = undefined;
  }
}

function unreadable(path: string, cause: unknown): AgentError {
  return new AgentError(
    'KERNEL_LOG_UNREADABLE',
    `cannot read ${path}: ${String((cause as Error)?.message ?? cause)}`,
    {
      cause,
    },
  );
}
