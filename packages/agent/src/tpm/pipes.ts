import { closeSync, constants, lstatSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TpmDriverError } from './errors.ts';
import { runTool } from './exec.ts';

// Why named pipes. On a host with IMA, every regular file root reads after it changed is measured
// again: a quote that made tpm2_quote write three files and read them back would add three kernel
// log entries a quote, twice a second. A pipe is not a regular file, and IMA measures regular
// files only. tpm2-tools takes output *paths*, and `/dev/fd/N` over Node's extra stdio does not
// work: libuv gives a child socketpairs, not pipes, and opening /proc/self/fd/N of a socket fails
// with ENXIO (tpm2_quote 5.4: 'Could not open PCR output file "/dev/fd/5" error: "No such device
// or address"'). So the driver makes named pipes once (mkfifo, at the first quote) and holds each
// open read-write and non-blocking: the tool's open for writing never blocks, its output waits in
// the pipe's buffer (64 KiB; a quote's three outputs are under 2 KiB), and the driver reads it
// back once the tool exited. Nothing is written to disk per quote.

/** Per-run tool outputs through named pipes in a folder of the driver's own. */
export class OutputPipes {
  /** The pipes' paths, in the order given to `create`. */
  readonly paths: readonly string[];
  readonly #fds: number[];

  private constructor(paths: string[], fds: number[]) {
    this.paths = paths;
    this.#fds = fds;
  }

  /**
   * Makes (or reuses) one named pipe per name in `dir` and opens each. Anything else found at a
   * name (a regular file an older driver left) is replaced.
   * @throws TpmDriverError TPM_UNAVAILABLE when mkfifo is missing; Error when the folder cannot hold pipes
   */
  static async create(dir: string, names: readonly string[], timeoutMs: number): Promise<OutputPipes> {
    const paths = names.map((n) => join(dir, n));
    const missing: string[] = [];
    for (const p of paths) {
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (st?.isFIFO()) continue;
      if (st !== undefined) rmSync(p, { force: true });
      missing.push(p);
    }
    if (missing.length > 0) await runTool('mkfifo', ['-m', '600', ...missing], { timeoutMs });
    const fds: number[] = [];
    try {
      for (const p of paths) {
        if (!lstatSync(p).isFIFO()) throw new Error(`${p} is not a named pipe`);
        fds.push(openSync(p, constants.O_RDWR | constants.O_NONBLOCK));
      }
    } catch (err) {
      for (const fd of fds) closeSync(fd);
      throw err;
    }
    const pipes = new OutputPipes(paths, fds);
    pipes.take(); // whatever an earlier, killed run left
    return pipes;
  }

  /** Everything waiting in each pipe now (call after the tool exited), in `paths` order. */
  take(): Uint8Array[] {
    return this.#fds.map((fd) => {
      const parts: Buffer[] = [];
      const buf = Buffer.allocUnsafe(64 << 10);
      for (;;) {
        let n: number;
        try {
          n = readSync(fd, buf, 0, buf.length, null);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'EAGAIN') break;
          throw err;
        }
        if (n === 0) break;
        parts.push(Buffer.from(buf.subarray(0, n)));
      }
      return new Uint8Array(Buffer.concat(parts));
    });
  }

  /** Closes the pipes (they stay in the folder for the next driver). */
  close(): void {
    for (const fd of this.#fds.splice(0)) closeSync(fd);
  }
}

/** Names of tpm2_quote's outputs in the driver's folder: message, signature, PCR values. */
const QUOTE_OUTPUTS = ['quote.msg', 'quote.sig', 'quote.pcrs'] as const;

/**
 * Where tpm2_quote writes its `-m -s -o` outputs: named pipes `quote.*.pipe` (OutputPipes), or,
 * where the folder cannot hold pipes, files `quote.*` (written and read back every quote).
 */
export class QuoteOutputs {
  readonly kind: 'pipes' | 'files';
  /** Paths for `-m`, `-s`, `-o`. */
  readonly paths: readonly string[];
  readonly #pipes: OutputPipes | null;

  private constructor(pipes: OutputPipes | null, paths: readonly string[]) {
    this.#pipes = pipes;
    this.kind = pipes === null ? 'files' : 'pipes';
    this.paths = paths;
  }

  /** @throws TpmDriverError TPM_UNAVAILABLE when mkfifo is not installed */
  static async open(dir: string, timeoutMs: number): Promise<QuoteOutputs> {
    try {
      const p = await OutputPipes.create(
        dir,
        QUOTE_OUTPUTS.map((n) => `${n}.pipe`),
        timeoutMs,
      );
      return new QuoteOutputs(p, p.paths);
    } catch (err) {
      if (err instanceof TpmDriverError) throw err;
      return new QuoteOutputs(
        null,
        QUOTE_OUTPUTS.map((n) => join(dir, n)),
      );
    }
  }

  /** Before a run: empties the pipes, or removes the files an earlier run left. */
  begin(): void {
    if (this.#pipes !== null) this.#pipes.take();
    else for (const f of this.paths) rmSync(f, { force: true });
  }

  /** After a run: the three outputs. */
  collect(): Uint8Array[] {
    return this.#pipes?.take() ?? this.paths.map((f) => new Uint8Array(readFileSync(f)));
  }

  close(): void {
    this.#pipes?.close();
  }
}
