import type { UpstreamProcess } from './scan.ts';

/** Options of identifyUpstream, identifyConnection and UpstreamWatch. */
export interface IdentifyOptions {
  /** procfs root. Default '/proc' (tests point it elsewhere only for fixtures). */
  proc?: string;
  /** Deadline of the /proc walk; past it the result is `none` / `scan-incomplete`. Default 5,000 ms. */
  timeoutMs?: number;
  /** Processes examined at most. Default 65,536 (above it: `scan-incomplete`, never a partial answer). */
  maxProcesses?: number;
  /** fds read per process at most. Default 65,536 (a process past it counts as unreadable). */
  maxFds?: number;
  /** Files listed per process at most. Default 4,096 (past it the process is marked `truncated`). */
  maxFiles?: number;
}

/** A socket the identification followed to its holders. */
export interface UpstreamSocket {
  /**
   * For identifyUpstream, a listening socket that accepts the upstream's connections
   * (`127.0.0.1:8080`, `[::]:8080`, `unix:/run/engine.sock`); for identifyConnection, the server
   * end of the agent's connection (`127.0.0.1:8080<-127.0.0.1:41234`).
   */
  address: string;
  /** Socket inode, decimal: the number in the holders' `socket:[inode]` fd links. */
  inode: string;
}

/** What the identification cost and saw. */
export interface UpstreamScan {
  /** Processes examined (0 when only the known holders were re-checked). */
  processes: number;
  /** Processes whose fds could not all be read (EACCES, or over maxFds): more holders may hide there. 0 as root. */
  unreadable: number;
  /** Wall-clock time of the whole identification, ms. */
  ms: number;
}

/** Why no local process was identified. */
export type UpstreamNoneReason =
  /** No listening socket in the agent's network namespace accepts the address (nothing listens; or it is NATed elsewhere, or in another namespace). */
  | 'no-listener'
  /** No socket on this host is the other end of the agent's connection (NATed to another machine, another network namespace, or not accepted yet). */
  | 'no-peer'
  /** A socket exists, but no visible process holds it (another pid namespace, /proc mounted with hidepid, or the holder exited). */
  | 'no-holder'
  /** The walk stopped at maxProcesses or the deadline before it had seen every process. */
  | 'scan-incomplete'
  /** A /proc table could not be read. */
  | 'proc-unreadable'
  /** A /proc table is not in the kernel's format (UPSTREAM_PROC_MALFORMED). */
  | 'proc-malformed';

/** No local process identified, and why. */
export interface UpstreamNone {
  kind: 'none';
  reason: UpstreamNoneReason;
  /** For people and logs: what was looked for and not found. */
  detail: string;
  scan: UpstreamScan;
}

/**
 * Which process serves the agent's upstream, from the kernel's tables (docs/upstream.md).
 * JSON-safe. `local.processes` is sorted by pid and never empty; `local.sockets` sorted by address.
 */
export type UpstreamIdentity =
  | { kind: 'local'; sockets: UpstreamSocket[]; processes: UpstreamProcess[]; scan: UpstreamScan }
  /** Not on this host's loopback: the verifier cannot see the server's weights and fails it. */
  | { kind: 'remote'; host: string }
  | UpstreamNone;

/** The scan figures, `ms` since `t0` (performance.now()). */
export function scanStats(processes: number, unreadable: number, t0: number): UpstreamScan {
  return { processes, unreadable, ms: Math.round((performance.now() - t0) * 1000) / 1000 };
}

/** A `none` answer. */
export function none(reason: UpstreamNoneReason, detail: string, scan: UpstreamScan): UpstreamNone {
  return { kind: 'none', reason, detail, scan };
}
