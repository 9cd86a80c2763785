/** The fields of /proc/<pid>/stat the sampler uses (proc(5)). */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  /** Field 14: user-mode CPU time, clock ticks. */
  utimeTicks: number;
  /** Field 15: kernel-mode CPU time, clock ticks. */
  stimeTicks: number;
  /** Field 22: start time after boot, clock ticks (tells a reused pid apart). */
  startTicks: number;
  /** Field 24: resident set size, pages. */
  rssPages: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself contain
 * spaces and ')', so the fields are split after the LAST ')' (proc(5) notes this). Returns
 * undefined when the layout is not the documented one.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf(' (');
  const close = text.lastIndexOf(')');
  if (open === -1 || close < open) return undefined;
  const pid = text.slice(0, open);
  if (!/^\d{1,10}$/.test(pid)) return undefined;
  // Fields 3.. after ") ".
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ');
  if (rest.length < 22) return undefined;
  const num = (field: number): number => {
    const s = rest[field - 3]!;
    return /^-?\d{1,20}$/.test(s) ? Number(s) : Number.NaN;
  };
  const st: ProcStat = {
    pid: Number(pid),
    comm: text.slice(open + 2, close),
    state: rest[0]!,
    utimeTicks: num(14),
    stimeTicks: num(15),
    startTicks: num(22),
    rssPages: num(24),
  };
  if ([st.utimeTicks, st.stimeTicks, st.startTicks, st.rssPages].some((v) => !Number.isFinite(v) || v < 0))
    return undefined;
  return st;
}

/** The fields of /proc/<pid>/status the sampler uses. */
export interface ProcStatus {
  /** VmRSS in bytes (the file prints kB, meaning KiB). */
  rssBytes?: number;
  /** VmHWM (peak RSS) in bytes. */
  peakRssBytes?: number;
  threads?: number;
}

/** Parses the `Key:\tvalue` lines of /proc/<pid>/status that the sampler uses. Unknown lines are ignored. */
export function parseProcStatus(text: string): ProcStatus {
  const out: ProcStatus = {};
  for (const line of text.split('\n')) {
    const m = /^(VmRSS|VmHWM|Threads):\s+(\d{1,15})(?: kB)?$/.exec(line.trimEnd());
    if (m === null) continue;
    const v = Number(m[2]);
    if (m[1] === 'VmRSS') out.rssBytes = v * 1024;
    else if (m[1] === 'VmHWM') out.peakRssBytes = v * 1024;
    else out.threads = v;
  }
  return out;
}
