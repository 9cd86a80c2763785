import { readdirSync, readlinkSync } from 'node:fs';
import { open, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type FdTarget, PROC_LIMITS, parseCmdline, parseFdTarget, parseMaps } from './maps.ts';

// The I/O half: walks /proc to find the processes holding a socket, and describes a process by
// what the kernel says it runs and has open. Processes come and go during a walk: ENOENT/ESRCH
// on one pid means it exited and is skipped; EACCES is counted (the agent runs as root, where
// nothing is denied; a count above 0 means the answer may be incomplete).

/** Bounds of one scan; each default is far above a normal host and keeps a hostile one finite. */
export interface ScanBounds {
  /** Processes examined; past it the scan is incomplete. Default 65,536. */
  maxProcesses: number;
  /** fds read per process; past it that process's scan is incomplete. Default 65,536. */
  maxFds: number;
  /** Regular files kept per process (sorted, the rest cut). Default 4,096. */
  maxFiles: number;
  /** Wall-clock deadline (ms since epoch, performance.now() base). */
  deadline: number;
}

/** What the walk found for one set of socket inodes. */
export interface HolderScan {
  /** pids (sorted) with an fd linking to one of the inodes. */
  pids: number[];
  /** Processes whose fds could not be read (EACCES) or whose fd count passed the bound. */
  unreadable: number;
  /** Processes examined. */
  processes: number;
  /** The walk stopped at a bound or the deadline before it saw every process. */
  incomplete: 'processes' | 'deadline' | null;
}

const gone = (e: unknown) => {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ESRCH';
};

/** Reads at most `max` + 1 bytes (one more than allowed, so a caller can tell it was cut), in chunks. */
export async function readBounded(path: string, max: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const chunks: Uint8Array[] = [];
    let n = 0;
    while (n <= max) {
      const buf = new Uint8Array(Math.min(64 * 1024, max + 1 - n));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      chunks.push(buf.subarray(0, bytesRead));
      n += bytesRead;
    }
    return new Uint8Array(Buffer.concat(chunks));
  } finally {
    await fh.close();
  }
}

/** The numeric entries of `<proc>`, ascending. */
export async function listPids(proc: string): Promise<number[]> {
  const names = await readdir(proc);
  const pids: number[] = [];
  for (const n of names) if (/^[1-9][0-9]{0,9}$/.test(n)) pids.push(Number(n));
  return pids.sort((a, b) => a - b);
}

// The fd walk uses the synchronous calls, yielding to the event loop every SLICE links: procfs
// answers readdir/readlink of fds from memory (no disk, and no mmap_lock, unlike maps and cmdline,
// which stay asynchronous), and one libuv round trip per link made the walk 2.4x slower (81
// processes, 417 fds: 16.5 ms async at any concurrency, 6.9 ms sync; bench/upstream.bench.ts).
const SLICE = 256;
const tick = () => new Promise<void>((res) => setImmediate(res));

/** fd link targets of one process, at most `max`; `null` when the process is gone. */
async function fdTargets(
  proc: string,
  pid: number,
  max: number,
): Promise<{ fds: [string, string][]; denied: boolean; cut: boolean } | null> {
  const dir = join(proc, String(pid), 'fd');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    if (gone(e)) return null;
    if ((e as NodeJS.ErrnoException).code === 'EACCES') return { fds: [], denied: true, cut: false };
    throw e;
  }
  const cut = names.length > max;
  const fds: [string, string][] = [];
  for (const [i, n] of names.slice(0, max).entries()) {
    if (i > 0 && i % SLICE === 0) await tick();
    try {
      fds.push([n, readlinkSync(join(dir, n))]);
    } catch (e) {
      if (!gone(e) && (e as NodeJS.ErrnoException).code !== 'EACCES') throw e; // fd closed meanwhile
    }
  }
  return { fds, denied: false, cut };
}

/**
 * Finds every process with an fd linking to `socket:[inode]` for one of `inodes`, walking
 * `<proc>/<pid>/fd` for all pids (threads share their leader's fd table; forked workers have their
 * own and are found too).
 */
export async function findHolders(
  proc: string,
  inodes: readonly bigint[],
  b: ScanBounds,
): Promise<HolderScan> {
  const wanted = new Set(inodes.map((i) => `socket:[${i}]`));
  let pids = await listPids(proc);
  let incomplete: HolderScan['incomplete'] = null;
  if (pids.length > b.maxProcesses) {
    pids = pids.slice(0, b.maxProcesses);
    incomplete = 'processes';
  }
  const found: number[] = [];
  let unreadable = 0;
  let processes = 0;
  let since = 0;
  for (const pid of pids) {
    if (performance.now() > b.deadline) {
      incomplete = 'deadline';
      break;
    }
    const r = await fdTargets(proc, pid, b.maxFds);
    if (r === null) continue;
    processes++;
    since += r.fds.length;
    if (since >= SLICE) {
      since = 0;
      await tick();
    }
    if (r.denied || r.cut) unreadable++;
    if (r.fds.some(([, t]) => wanted.has(t))) found.push(pid);
  }
  return { pids: found.sort((a, b2) => a - b2), unreadable, processes, incomplete };
}

/** Whether `pid` still has an fd linking to one of `inodes` (false when gone). */
export async function holds(
  proc: string,
  pid: number,
  inodes: readonly bigint[],
  maxFds: number,
): Promise<boolean> {
  const wanted = new Set(inodes.map((i) => `socket:[${i}]`));
  const r = await fdTargets(proc, pid, maxFds);
  return r?.fds.some(([, t]) => wanted.has(t)) ?? false;
}

/** One process serving the upstream, as the kernel describes it. */
export interface UpstreamProcess {
  pid: number;
  /**
   * The executable: the kernel's path of /proc/<pid>/exe (already canonical, symlinks resolved,
   * as seen from the agent's mount namespace), with ` (deleted)` when the file was unlinked, or
   * null for a process without one (a kernel thread).
   */
  exe: string | null;
  /** SHA-256 of the executable, hex. Never computed here: the caller fills it (or takes it from the kernel's IMA log). */
  exeDigest?: string;
  /** Arguments (bounded; the process may have rewritten them: a hint, not evidence). */
  cmdline: string[];
  /**
   * Regular files the process has open (fd links) or mapped (maps, file-backed rows), as absolute
   * paths; an unlinked file (or memfd) carries the kernel's ` (deleted)` suffix. Deduplicated,
   * sorted by code unit, at most ScanBounds.maxFiles.
   */
  files: string[];
  /** cmdline, files or fds were cut at their bounds, or maps could not be parsed. */
  truncated: boolean;
}

const PSEUDO_PREFIXES = ['/dev/', '/proc/', '/sys/'];

/** Describes one process; null when it exited meanwhile. */
export async function describe(proc: string, pid: number, b: ScanBounds): Promise<UpstreamProcess | null> {
  const base = join(proc, String(pid));
  let exe: string | null = null;
  try {
    exe = await readlink(join(base, 'exe'));
  } catch (e) {
    if (!gone(e)) throw e; // ENOENT is a kernel thread, or the process exited (found below)
  }
  let cmd: { args: string[]; truncated: boolean };
  let mapsText: string;
  try {
    cmd = parseCmdline(await readBounded(join(base, 'cmdline'), PROC_LIMITS.cmdlineBytes));
    mapsText = new TextDecoder().decode(await readBounded(join(base, 'maps'), PROC_LIMITS.mapsBytes));
  } catch (e) {
    if (gone(e)) return null;
    throw e;
  }
  let truncated = cmd.truncated;
  const files = new Set<string>();
  const add = (path: string, deleted: boolean) => {
    if (PSEUDO_PREFIXES.some((p) => path.startsWith(p))) return;
    files.add(deleted ? `${path} (deleted)` : path);
  };
  const fds = await fdTargets(proc, pid, b.maxFds);
  if (fds === null) return null;
  if (fds.cut || fds.denied) truncated = true;
  for (const [n, link] of fds.fds) {
    let t: FdTarget;
    try {
      t = parseFdTarget(link);
    } catch {
      truncated = true; // not a link target the kernel writes: say so, keep the rest
      continue;
    }
    if (t.kind !== 'path') continue;
    // Only regular files: stat through the fd itself (it works for unlinked files, and in the
    // process's own mount namespace), not by the path, which root may have replaced since.
    try {
      if ((await stat(join(base, 'fd', n))).isFile()) add(t.path, t.deleted);
    } catch (e) {
      if (!gone(e)) throw e;
    }
  }
  try {
    for (const row of parseMaps(mapsText))
      if (row.inode !== 0n && row.path?.startsWith('/')) add(row.path, row.deleted);
  } catch {
    truncated = true; // maps not in the kernel's format (bind-mounted over?): say so, keep the fds
  }
  let sorted = [...files].sort();
  if (sorted.length > b.maxFiles) {
    sorted = sorted.slice(0, b.maxFiles);
    truncated = true;
  }
  return { pid, exe, cmdline: cmd.args, files: sorted, truncated };
}
