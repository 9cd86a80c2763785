interface Hold {
  signal?: NodeJS.Signals;
  on: (signal: NodeJS.Signals) => void;
}
let held: Hold | undefined;

/**
 * For a command that runs until SIGINT or SIGTERM, from the process's start: a signal is kept
 * instead of ending the process, so one that arrives before the command waits for it (a
 * supervisor that stops a service right after its ready line) still stops it cleanly, through
 * untilSignal or takeHeldSignal, which end the hold. A second signal during the hold ends the
 * process at once (exit 130 or 143), so a start that hangs can still be stopped.
 */
export function holdSignals(): void {
  if (held !== undefined) return;
  const h: Hold = {
    on: (signal) => {
      // A second one ends a start that hangs, as the signal would have without the hold.
      if (h.signal !== undefined) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
      h.signal = signal;
    },
  };
  held = h;
  process.on('SIGINT', h.on);
  process.on('SIGTERM', h.on);
}

/**
 * Ends holdSignals' hold; returns the signal that came during it, if any. A command with its own
 * SIGINT and SIGTERM handlers calls this after adding them.
 */
export function takeHeldSignal(): NodeJS.Signals | undefined {
  const h = held;
  if (h === undefined) return undefined;
  held = undefined;
  process.off('SIGINT', h.on);
  process.off('SIGTERM', h.on);
  return h.signal;
}

/**
 * Resolves on the first SIGINT or SIGTERM (or at once with one held since the start), so a
 * service command can shut down cleanly; a second signal then ends the process as usual.
 */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
    const early = takeHeldSignal();
    if (early !== undefined) on(early);
  });
}

/**
 * What `tmb` does when the reader of its output goes away (`tmb profile generate | head -1`), as
 * SIGPIPE would but quietly: no EPIPE stack trace. A command that waits for SIGINT or SIGTERM (a
 * service, the demo) is stopped as SIGTERM would, with its clean shutdown; any other exits at
 * once with status 0 (the reader took what it wanted). Writes after that are dropped (main's
 * processIo checks `writable`). A closed stderr only drops what is written to it. Other stream
 * errors still surface. Call once, from the process's entry point.
 */
export function onClosedOutput(): void {
  const gone = (err: NodeJS.ErrnoException) => err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED';
  let stopped = false;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (!gone(err)) throw err;
    process.stdout.destroy();
    if (stopped) return;
    stopped = true;
    if (process.listenerCount('SIGTERM') === 0) process.exit(0);
    process.emit('SIGTERM', 'SIGTERM');
  });
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (!gone(err)) throw err;
    process.stderr.destroy();
  });
}
