import { open as openFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { TpmDriverError } from './errors.ts';
import { TPM_MAX_RESPONSE } from './raw.ts';
import type { TctiConfig } from './tcti.ts';

// The agent's resident connection to its TPM: raw TPM 2.0 command buffers in, responses out, with
// no tool process per command. What goes over it is what the tpm2-tss TCTIs send:
// - swtpm (`swtpm` TCTI, TCP or Unix socket): the data channel carries bare command and response
//   buffers (no framing; the response's own size field says where it ends). swtpm serves ONE
//   client at a time: while this connection is open, a tpm2-tools run (whose TCTI connects per
//   command) waits in swtpm's backlog, checked on swtpm 0.7.1. So the connection is closed after
//   `idleMs` without a command, reopened once held `maxHoldMs` (the waiting client goes first),
//   and the driver closes it before every tool run it starts.
// - a device (`/dev/tpmrm0`): one write() of the whole command, one read() of the whole response.
//   The kernel's resource manager shares the TPM between open files; `/dev/tpm0` (no resource
//   manager) is exclusive, hence the same idle close.

/** One open link to a TPM: sends one command, resolves its whole response. */
export interface TpmLink {
  exchange(command: Uint8Array): Promise<Uint8Array>;
  close(): void;
}

/** A TPM device file as the device link uses it (a FileHandle; tests pass a fake). */
export interface DeviceFile {
  write(buffer: Uint8Array): Promise<{ bytesWritten: number }>;
  read(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

/** Options of a TpmWire. */
export interface TpmWireOptions {
  /** Per-command timeout in ms (default 10,000): past it the connection is closed, TPM_TOOL_TIMEOUT. */
  timeoutMs?: number;
  /**
   * Close the connection after this many ms without a command (default 10): long enough for the
   * commands of one quote (quote, PCR reads) to share it, short enough that another client of a
   * one-client swtpm waits no longer than one of the agent's bursts.
   */
  idleMs?: number;
  /**
   * Reconnect before a command once the connection has been open this long (default 100 ms): a
   * burst of commands (a kernel log replayed into PCR 10) must not starve another client of a
   * one-client swtpm, which waits in its backlog and is served first when this one closes.
   */
  maxHoldMs?: number;
  /** How a device link opens its file (default fs.promises.open(path, 'r+')). */
  openDevice?: (path: string) => Promise<DeviceFile>;
}

/**
 * Response codes after which the TPM did not run the command and asks for it again: TPM_RC_RETRY
 * (0x922, swtpm answers it to the first command after another client's), TPM_RC_YIELDED (0x908),
 * TPM_RC_TESTING (0x90a); Part 2, 6.6.3. tpm2-tss's ESYS sends such a command up to 5 times.
 */
const RESUBMIT = new Set([0x922, 0x908, 0x90a]);
const MAX_SUBMISSIONS = 5;

/** The header's UINT32 at `at` (2: commandSize / responseSize, 6: the response code). */
function u32at(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
}

function size(b: Uint8Array): number {
  return u32at(b, 2);
}

/** A socket link (swtpm over TCP or a Unix socket): accumulates one response per command. */
class SocketLink implements TpmLink {
  readonly #socket: Socket;
  readonly #opened: Promise<void>;
  #chunks: Buffer[] = [];
  #waiting: { resolve: (b: Uint8Array) => void; reject: (e: Error) => void } | null = null;
  #failure: TpmDriverError | null = null;

  constructor(t: Extract<TctiConfig, { kind: 'swtpm' | 'unix' }>, where: string) {
    this.#socket = t.kind === 'swtpm' ? connect(t.port, t.host ?? '127.0.0.1') : connect(t.path);
    this.#socket.setNoDelay(true);
    this.#opened = new Promise((resolve, reject) => {
      this.#socket.once('connect', resolve);
      this.#socket.once('error', (err) =>
        reject(
          new TpmDriverError('TPM_UNAVAILABLE', `no TPM answers at ${where}: ${err.message}`, { cause: err }),
        ),
      );
    });
    this.#opened.catch(() => undefined);
    this.#socket.on('data', (d: Buffer) => this.#data(d));
    this.#socket.on('error', () => undefined); // reported through 'close'
    this.#socket.on('close', () =>
      this.#fail(new TpmDriverError('TPM_UNAVAILABLE', `the TPM at ${where} closed the connection`)),
    );
  }

  #fail(err: TpmDriverError): void {
    this.#failure ??= err;
    const w = this.#waiting;
    this.#waiting = null;
    w?.reject(this.#failure);
    this.#socket.destroy();
  }

  #data(d: Buffer): void {
    this.#chunks.push(d);
    const bytes = Buffer.concat(this.#chunks);
    const problem = this.#problem(bytes);
    if (problem === 'more') return;
    if (problem !== null) {
      this.#fail(new TpmDriverError('TPM_RESPONSE_INVALID', problem));
      return;
    }
    const w = this.#waiting!;
    this.#waiting = null;
    this.#chunks = [];
    w.resolve(new Uint8Array(bytes));
  }

  /** What is wrong with the bytes received so far, `more` to wait for the rest, or null: a response. */
  #problem(bytes: Buffer): string | 'more' | null {
    if (this.#waiting === null) return 'bytes from the TPM with no command sent';
    if (bytes.length < 6) return 'more';
    // attacker-controlled: the size field decides how much is read, bounded by TPM_MAX_RESPONSE
    const want = size(bytes);
    if (want < 10 || want > TPM_MAX_RESPONSE) return `a response size field of ${want} bytes`;
    if (bytes.length < want) return 'more';
    if (bytes.length > want) return `${bytes.length - want} bytes past the response`;
    return null;
  }

  async exchange(command: Uint8Array): Promise<Uint8Array> {
    await this.#opened;
    if (this.#failure !== null) throw this.#failure;
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#socket.write(command);
    });
  }

  close(): void {
    this.#fail(new TpmDriverError('TPM_UNAVAILABLE', 'the connection was closed'));
  }
}

/** A device link: one write of the command, one read of the response (the kernel's TPM driver). */
class DeviceLink implements TpmLink {
  readonly #file: Promise<DeviceFile>;
  readonly #buf = new Uint8Array(TPM_MAX_RESPONSE + 1);

  constructor(path: string, open: (path: string) => Promise<DeviceFile>) {
    this.#file = open(path).catch((err: Error) => {
      throw new TpmDriverError('TPM_UNAVAILABLE', `no TPM answers at device:${path}: ${err.message}`, {
        cause: err,
      });
    });
    this.#file.catch(() => undefined);
  }

  async exchange(command: Uint8Array): Promise<Uint8Array> {
    const f = await this.#file;
    const { bytesWritten } = await f.write(command);
    if (bytesWritten !== command.length)
      throw new TpmDriverError(
        'TPM_UNAVAILABLE',
        `the TPM device took ${bytesWritten} of ${command.length} bytes`,
      );
    // One byte more than the largest response: a longer answer is seen, not cut to look valid.
    const { bytesRead } = await f.read(this.#buf, 0, this.#buf.length);
    if (bytesRead < 10 || bytesRead > TPM_MAX_RESPONSE || size(this.#buf) !== bytesRead)
      throw new TpmDriverError(
        'TPM_RESPONSE_INVALID',
        `a response of ${bytesRead} bytes${bytesRead >= 6 ? ` whose size field says ${size(this.#buf)}` : ''}`,
      );
    return this.#buf.slice(0, bytesRead);
  }

  close(): void {
    this.#file.then((f) => f.close()).catch(() => undefined);
  }
}

/**
 * The agent's resident connection to its TPM (see the top of this file): commands are sent one
 * at a time in call order, each with a timeout; any failure (timeout, closed connection, bytes
 * that are not a response) closes the connection and the next command opens a new one. A command
 * is never sent twice: what failed may have run (an extend), so the caller decides.
 */
export class TpmWire {
  readonly tcti: TctiConfig;
  readonly #timeoutMs: number;
  readonly #idleMs: number;
  readonly #maxHoldMs: number;
  #openedAt = 0;
  readonly #openDevice: (path: string) => Promise<DeviceFile>;
  #link: TpmLink | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #idle: NodeJS.Timeout | undefined;
  #connects = 0;

  constructor(tcti: TctiConfig, opts: TpmWireOptions = {}) {
    this.tcti = tcti;
    this.#timeoutMs = opts.timeoutMs ?? 10_000;
    this.#idleMs = opts.idleMs ?? 10;
    this.#maxHoldMs = opts.maxHoldMs ?? 100;
    this.#openDevice = opts.openDevice ?? ((path) => openFile(path, 'r+'));
  }

  /** How many connections this wire has opened (tests and bench/quote.bench.ts count them). */
  get connects(): number {
    return this.#connects;
  }

  /** Whether a connection is open now. */
  get connected(): boolean {
    return this.#link !== null;
  }

  /**
   * Sends one command buffer and resolves the whole response (header checked for size only: the
   * caller parses it, raw.ts responseParameters).
   * @throws TpmDriverError TPM_UNAVAILABLE (no connection, closed mid-command), TPM_TOOL_TIMEOUT,
   *   TPM_RESPONSE_INVALID (size field under 10 or over 4,096, bytes past it or with no command)
   */
  send(command: Uint8Array): Promise<Uint8Array> {
    if (command.length < 10 || command.length > TPM_MAX_RESPONSE || size(command) !== command.length)
      throw new RangeError(`a TPM command of ${command.length} bytes with size field ${size(command)}`);
    this.#pending++;
    clearTimeout(this.#idle);
    const run = this.#queue.then(() => this.#exchange(command));
    this.#queue = run.catch(() => undefined);
    const done = () => {
      if (--this.#pending === 0 && this.#link !== null) {
        this.#idle = setTimeout(() => this.release(), this.#idleMs);
        this.#idle.unref();
      }
    };
    run.then(done, done);
    return run;
  }

  async #exchange(command: Uint8Array): Promise<Uint8Array> {
    const link = this.#open();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(new TpmDriverError('TPM_TOOL_TIMEOUT', `no answer from the TPM in ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
    });
    try {
      for (let n = 1; ; n++) {
        const res = await Promise.race([link.exchange(command), late]);
        if (n === MAX_SUBMISSIONS || !RESUBMIT.has(u32at(res, 6))) return res;
      }
    } catch (err) {
      this.#drop(link);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  #open(): TpmLink {
    if (this.#link !== null && performance.now() - this.#openedAt > this.#maxHoldMs) this.#drop(this.#link);
    if (this.#link !== null) return this.#link;
    this.#connects++;
    this.#openedAt = performance.now();
    const t = this.tcti;
    this.#link =
      t.kind === 'device'
        ? new DeviceLink(t.path ?? '/dev/tpmrm0', this.#openDevice)
        : new SocketLink(t, t.kind === 'swtpm' ? `${t.host ?? '127.0.0.1'}:${t.port}` : t.path);
    return this.#link;
  }

  #drop(link: TpmLink): void {
    link.close();
    if (this.#link === link) this.#link = null;
  }

  /**
   * Closes the connection now if no command is in flight (another client may then use a
   * one-client TPM); the next command opens a new one. The driver calls it before each tool run.
   */
  release(): void {
    clearTimeout(this.#idle);
    if (this.#pending > 0 || this.#link === null) return;
    this.#drop(this.#link);
  }
}
