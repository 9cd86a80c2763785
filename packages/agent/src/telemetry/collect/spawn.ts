import { spawn as nodeSpawn } from 'node:child_process';

/** The part of a child process the collectors use, so tests can hand in a fake one. */
export interface ChildLike {
  stdout: NodeJS.ReadableStream | null;
  kill(signal?: NodeJS.Signals | number): boolean;
  on(
    event: 'exit' | 'close',
    listener: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** Starts a program; node:child_process.spawn by default (stdin ignored, stderr discarded). */
export type SpawnFn = (command: string, args: readonly string[]) => ChildLike;

/** The default SpawnFn: no shell, stdin and stderr ignored. */
export const defaultSpawn: SpawnFn = (command, args) =>
  nodeSpawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'], shell: false });

/**
 * Splits a byte stream into lines, bounding each line: a line longer than `max` characters is
 * reported through `onTooLong` and skipped up to its newline, so a tool that never prints a
 * newline cannot make the agent buffer without limit.
 */
export class LineSplitter {
  #buf = '';
  #skipping = false;
  readonly #max: number;
  readonly #onLine: (line: string) => void;
  readonly #onTooLong: () => void;

  constructor(max: number, onLine: (line: string) => void, onTooLong: () => void) {
    this.#max = max;
    this.#onLine = onLine;
    this.#onTooLong = onTooLong;
  }

  /** Feeds a chunk; calls onLine for each complete line. */
  push(chunk: string): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', start);
      if (nl === -1) break;
      const piece = chunk.slice(start, nl);
      if (this.#skipping) this.#skipping = false;
      else if (this.#buf.length + piece.length > this.#max) {
        this.#onTooLong();
      } else this.#onLine(this.#buf + piece);
      this.#buf = '';
      start = nl + 1;
    }
    if (this.#skipping) return;
    this.#buf += chunk.slice(start);
    if (this.#buf.length > this.#max) {
      this.#onTooLong();
      this.#buf = '';
      this.#skipping = true;
    }
  }
}
