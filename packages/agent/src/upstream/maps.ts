import { AgentError } from '../errors.ts';
import { parseDecimal } from './net.ts';

// Parsers of per-process text under /proc/<pid>: maps, the targets of fd links, cmdline. Bounded,
// and they throw only AgentError('UPSTREAM_PROC_MALFORMED') for text not in the kernel's format
// (root can bind-mount anything over /proc/<pid>/maps).

/** Caps on per-process text. */
export const PROC_LIMITS = {
  /** Bytes of one maps file (vm.max_map_count is 65,530 by default; a row is at most ~4,200 bytes). */
  mapsBytes: 64 * 1024 * 1024,
  /** Rows of one maps file. */
  mapsRows: 1 << 20,
  /** Characters of a path (PATH_MAX 4096, plus " (deleted)" and escapes). */
  pathChars: 4096 * 4 + 16,
  /** Bytes of cmdline read (the rest is cut and marked truncated). */
  cmdlineBytes: 64 * 1024,
  /** Arguments of cmdline kept. */
  cmdlineArgs: 256,
} as const;

const DELETED = ' (deleted)';
const U64_MAX = (1n << 64n) - 1n;

/** One row of /proc/<pid>/maps (fs/proc/task_mmu.c show_map_vma). */
export interface MapsRow {
  start: bigint;
  end: bigint;
  /** Four characters: r/-, w/-, x/-, p (private) or s (shared). */
  perms: string;
  offset: bigint;
  /** Device `major:minor` in lower-case hex as the kernel prints it. */
  dev: string;
  /** Inode of the mapped file; 0 for anonymous memory. */
  inode: bigint;
  /**
   * The path column without the ` (deleted)` marker: a file path (newlines escaped by the kernel
   * as `\012`), a pseudo name (`[heap]`, `[stack]`, `[anon:...]`), or null for an anonymous map.
   */
  path: string | null;
  /** The kernel marked the file unlinked (` (deleted)`), as it does for memfd files too. */
  deleted: boolean;
}

const MAPS_ROW =
  /^([0-9a-f]{1,16})-([0-9a-f]{1,16}) ([r-][w-][x-][ps]) ([0-9a-f]{1,16}) ([0-9a-f]{2,8}:[0-9a-f]{2,8}) ([0-9]{1,20})(?: +(.*))?$/;

function malformed(what: string, detail: string): AgentError {
  return new AgentError('UPSTREAM_PROC_MALFORMED', `${what}: ${detail}`);
}

/**
 * Parses /proc/<pid>/maps.
 * @throws AgentError UPSTREAM_PROC_MALFORMED naming the line and the field.
 */
export function parseMaps(text: string): MapsRow[] {
  if (text.length > PROC_LIMITS.mapsBytes)
    throw malformed('maps', `${text.length} bytes over the cap of ${PROC_LIMITS.mapsBytes}`);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  if (lines.length > PROC_LIMITS.mapsRows)
    throw malformed('maps', `${lines.length} rows over the cap of ${PROC_LIMITS.mapsRows}`);
  return lines.map((line, i) => {
    if (line.length > PROC_LIMITS.pathChars + 128)
      throw malformed(`maps line ${i + 1}`, `${line.length} characters over the cap`);
    const m = MAPS_ROW.exec(line);
    if (!m) throw malformed(`maps line ${i + 1}`, `${JSON.stringify(line.slice(0, 80))} is not a maps row`);
    const inode = parseDecimal(m[6]!, U64_MAX);
    if (inode === null)
      throw malformed(`maps line ${i + 1}`, `inode ${JSON.stringify(m[6])} is not a decimal u64`);
    const start = BigInt(`0x${m[1]}`);
    const end = BigInt(`0x${m[2]}`);
    if (end < start) throw malformed(`maps line ${i + 1}`, 'end address before start');
    const column = m[7] ?? '';
    const deleted = column.endsWith(DELETED);
    const path = deleted ? column.slice(0, -DELETED.length) : column;
    return {
      start,
      end,
      perms: m[3]!,
      offset: BigInt(`0x${m[4]}`),
      dev: m[5]!,
      inode,
      path: path === '' ? null : path,
      deleted,
    };
  });
}

/** What an fd link under /proc/<pid>/fd points at (fs/d_path.c, the *_dname functions). */
export type FdTarget =
  | { kind: 'socket'; inode: bigint }
  | { kind: 'path'; path: string; deleted: boolean }
  /** pipe:[N], anon_inode:..., and other pseudo files. */
  | { kind: 'pseudo'; name: string };

/**
 * Parses the target of a /proc/<pid>/fd/<n> link: `socket:[inode]`, an absolute path (with the
 * kernel's ` (deleted)` marker when unlinked), or a pseudo file (`pipe:[N]`, `anon_inode:[eventfd]`).
 * @throws AgentError UPSTREAM_PROC_MALFORMED for an empty or over-long target, or a `socket:[...]`
 *   whose inode is not a decimal u64.
 */
export function parseFdTarget(text: string): FdTarget {
  if (text.length === 0) throw malformed('fd link', 'empty target');
  if (text.length > PROC_LIMITS.pathChars)
    throw malformed('fd link', `${text.length} characters over the cap`);
  if (text.startsWith('socket:')) {
    const m = /^socket:\[([0-9]+)\]$/.exec(text);
    const inode = m ? parseDecimal(m[1]!, U64_MAX) : null;
    if (inode === null)
      throw malformed('fd link', `${JSON.stringify(text.slice(0, 80))} is not socket:[inode]`);
    return { kind: 'socket', inode };
  }
  if (text.startsWith('/')) {
    const deleted = text.endsWith(DELETED);
    return { kind: 'path', path: deleted ? text.slice(0, -DELETED.length) : text, deleted };
  }
  return { kind: 'pseudo', name: text };
}

/** The link target a socket's fd shows: `socket:[inode]`. */
export function socketTarget(inode: bigint): string {
  return `socket:[${inode}]`;
}

/**
 * Splits /proc/<pid>/cmdline (arguments each ended by NUL) into at most PROC_LIMITS.cmdlineArgs
 * arguments from at most PROC_LIMITS.cmdlineBytes bytes. A process may rewrite its own cmdline,
 * so it is a hint for people, never evidence. Never throws.
 */
export function parseCmdline(bytes: Uint8Array): { args: string[]; truncated: boolean } {
  let truncated = bytes.length > PROC_LIMITS.cmdlineBytes;
  const text = new TextDecoder().decode(bytes.subarray(0, PROC_LIMITS.cmdlineBytes));
  const args = text.split('\0');
  if (args.at(-1) === '') args.pop();
  if (args.length > PROC_LIMITS.cmdlineArgs) {
    truncated = true;
    args.length = PROC_LIMITS.cmdlineArgs;
  }
  return { args, truncated };
}
