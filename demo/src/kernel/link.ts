import { connect, type Socket } from 'node:net';
import { KernelSimError } from './errors.ts';
import { messageSize, TPM_MAX_MESSAGE } from './tpm.ts';

/**
 * The simulated kernel's one data connection to swtpm (swtpm serves one at a time). Commands are
 * sent one at a time, in the order `send` is called, each answered by one whole response before
 * the next goes out; the kernel's own extends and the proxy's forwarded commands share it.
 */
export class TpmLink {
  readonly host: string;
  readonly port: number;
  /** How long one command may wait for its whole response (RSA key creation on swtpm takes seconds). */
  readonly timeoutMs: number;
  #socket: Socket | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(host: string, port: number, timeoutMs = 60_000) {
    this.host = host;
    this.port = port;
    this.timeoutMs = timeoutMs;
  }

  /**
   * Sends one command and resolves with its whole response. A stuck or broken upstream rejects
   * (SIMKERNEL_TPM_FAILED) and drops the connection; the next command connects again.
   */
  send(command: Uint8Array): Promise<Uint8Array> {
    const run = this.#chain.then(() => this.#exchange(command));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /** Closes the connection; later sends fail. */
  close(): void {
    this.#closed = true;
    this.#socket?.destroy();
    this.#socket = null;
  }

  async #connected(): Promise<Socket> {
    if (this.#closed) throw new KernelSimError('SIMKERNEL_TPM_FAILED', 'the TPM link is closed');
    if (this.#socket !== null && !this.#socket.destroyed) return this.#socket;
    const s = connect(this.port, this.host);
    s.setNoDelay(true);
    await new Promise<void>((ok, fail) => {
      s.once('connect', ok);
      s.once('error', (e) =>
        fail(new KernelSimError('SIMKERNEL_TPM_FAILED', `swtpm: ${e.message}`, { cause: e })),
      );
    });
    s.on('error', () => undefined); // surfaced by the exchange that is waiting, if any
    this.#socket = s;
    return s;
  }

  async #exchange(command: Uint8Array): Promise<Uint8Array> {
    const s = await this.#connected();
    return new Promise<Uint8Array>((resolve, reject) => {
      const parts: Buffer[] = [];
      let have = 0;
      const done = (err: Error | null, res?: Uint8Array) => {
        clearTimeout(timer);
        s.off('data', onData);
        s.off('close', onClose);
        if (err === null) resolve(res!);
        else {
          s.destroy(); // its stream position is unknown now: start a new connection
          reject(err);
        }
      };
      const onData = (d: Buffer) => {
        parts.push(d);
        have += d.length;
        const head = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
        const size = messageSize(head);
        if (size < 0) return;
        if (size < 10 || size > TPM_MAX_MESSAGE)
          return done(new KernelSimError('SIMKERNEL_TPM_FAILED', `swtpm answered a ${size}-byte response`));
        if (have < size) return;
        if (have > size)
          return done(new KernelSimError('SIMKERNEL_TPM_FAILED', 'swtpm sent bytes past a response'));
        done(null, new Uint8Array(Buffer.concat(parts)));
      };
      const onClose = () => done(new KernelSimError('SIMKERNEL_TPM_FAILED', 'swtpm closed the connection'));
      const timer = setTimeout(
        () =>
          done(new KernelSimError('SIMKERNEL_TPM_FAILED', `swtpm did not answer in ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      s.on('data', onData);
      s.once('close', onClose);
      s.write(command);
    });
  }
}
