import type { Io } from '../src/registry.ts';

/** An Io that records what a command prints; `stdin` is what the command reads from standard input. */
export function capture(stdin: string | Uint8Array = ''): Io & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => {
      io.out += t;
    },
    stderr: (t: string) => {
      io.err += t;
    },
    stdin: async () => (typeof stdin === 'string' ? new TextEncoder().encode(stdin) : stdin),
  };
  return io;
}
