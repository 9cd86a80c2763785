import { describe, findHolders, holds, type ScanBounds, type UpstreamProcess } from './scan.ts';
import { type Found, listening, peerOf } from './sockets.ts';
import { type UpstreamTarget, upstreamTarget } from './target.ts';
import {
  type IdentifyOptions,
  none,
  scanStats,
  type UpstreamIdentity,
  type UpstreamSocket,
} from './types.ts';

/**
 * Identifies the processes serving `url` (`http://127.0.0.1:PORT`, `http://[::1]:PORT`,
 * `http://localhost:PORT`, `unix:/path`): the listening socket in /proc/net/{tcp,tcp6,unix}, the
 * processes whose fds link to it, and what each runs and has open. Never throws for what the host
 * shows (no listener, malformed tables, a slow walk): those are `none` with a reason.
 * @throws AgentError AGENT_CONFIG_INVALID for a URL that is neither http(s) nor unix.
 * @example
 *   const id = await identifyUpstream('http://127.0.0.1:8080');
 *   if (id.kind === 'local') for (const p of id.processes) console.log(p.pid, p.exe, p.files);
 */
export async function identifyUpstream(url: string, o: IdentifyOptions = {}): Promise<UpstreamIdentity> {
  return new UpstreamWatch(url, o).identify();
}

/**
 * Identifies the processes holding the server end of one of the agent's own TCP connections,
 * given its local end (`socket.localAddress`, `socket.localPort`), walking all of /proc. Unlike
 * identifyUpstream it follows the connection actually made, so it sees through a NAT redirect to
 * another local port and an accepted socket handed to another process. Call it once the server
 * has answered (before accept() the server end has no fd). Never throws for what the host shows.
 */
export async function identifyConnection(
  local: { address: string; port: number },
  o: IdentifyOptions = {},
): Promise<UpstreamIdentity> {
  const t0 = performance.now();
  return follow(o, await peerOf(o.proc ?? '/proc', local), t0);
}

function bounds(o: IdentifyOptions, t0: number): ScanBounds {
  return {
    maxProcesses: o.maxProcesses ?? 65_536,
    maxFds: o.maxFds ?? 65_536,
    maxFiles: o.maxFiles ?? 4096,
    deadline: t0 + (o.timeoutMs ?? 5000),
  };
}

/** Walks /proc for the holders of `f`'s sockets and describes them. */
async function follow(o: IdentifyOptions, f: Found, t0: number): Promise<UpstreamIdentity> {
  if ('reason' in f) return f;
  const proc = o.proc ?? '/proc';
  const b = bounds(o, t0);
  const walk = await findHolders(proc, f.inodes, b);
  const stats = () => scanStats(walk.processes, walk.unreadable, t0);
  if (walk.incomplete !== null)
    return none(
      'scan-incomplete',
      walk.incomplete === 'deadline'
        ? `the /proc walk passed its ${o.timeoutMs ?? 5000} ms deadline after ${walk.processes} processes`
        : `more processes than the bound of ${b.maxProcesses}`,
      stats(),
    );
  const processes: UpstreamProcess[] = [];
  for (const pid of walk.pids) {
    const d = await describe(proc, pid, b);
    if (d !== null) processes.push(d);
  }
  if (processes.length === 0)
    return none(
      'no-holder',
      `no visible process holds ${f.sockets.map((x) => `${x.address} (socket:[${x.inode}])`).join(', ')}` +
        ` (${walk.processes} processes walked, ${walk.unreadable} unreadable): the server may be in another pid namespace, /proc mounted with hidepid, or gone`,
      stats(),
    );
  return { kind: 'local', sockets: f.sockets, processes, scan: stats() };
}

const sameSockets = (a: UpstreamSocket[], b: UpstreamSocket[]) =>
  a.length === b.length && a.every((x, i) => x.inode === b[i]!.inode && x.address === b[i]!.address);

/**
 * The upstream's identity, computed only when asked: `identify()` walks all of /proc (at start);
 * `check()` re-reads only the socket tables and the known holders and walks /proc again only
 * when the listener or its holders changed; `connection()` answers for one new upstream
 * connection, walking /proc only when its server end is not held by a known holder.
 * A process that starts holding the listener after the last walk (a fork, an fd passed over a
 * unix socket) is seen only by the next `identify()`.
 */
export class UpstreamWatch {
  readonly url: string;
  readonly #proc: string;
  readonly #o: IdentifyOptions;
  #target: UpstreamTarget | null = null;
  #last: UpstreamIdentity | null = null;

  constructor(url: string, o: IdentifyOptions = {}) {
    this.url = url;
    this.#o = o;
    this.#proc = o.proc ?? '/proc';
  }

  /** The last answer of identify() or check(), or null before the first. */
  get current(): UpstreamIdentity | null {
    return this.#last;
  }

  /** Full identification (walks every process). @throws AgentError AGENT_CONFIG_INVALID (bad URL). */
  async identify(): Promise<UpstreamIdentity> {
    const t0 = performance.now();
    this.#target ??= await upstreamTarget(this.url);
    const t = this.#target;
    this.#last =
      t.kind === 'remote'
        ? { kind: 'remote', host: t.host }
        : await follow(this.#o, await listening(this.#proc, t), t0);
    return this.#last;
  }

  /**
   * Cheap re-check: the same listener inodes, each known holder still holding one; then the
   * holders are described again (their exe, cmdline and files may have changed). Falls back to
   * identify() when anything else changed or there is no local answer yet.
   */
  async check(): Promise<UpstreamIdentity> {
    const last = this.#last;
    if (last?.kind !== 'local' || this.#target === null || this.#target.kind === 'remote')
      return this.identify();
    const t0 = performance.now();
    const l = await listening(this.#proc, this.#target);
    if ('reason' in l || !sameSockets(l.sockets, last.sockets)) return this.identify();
    const fresh = await this.#redescribe(last.processes, l.inodes, t0);
    if (fresh === null) return this.identify();
    this.#last = { kind: 'local', sockets: l.sockets, processes: fresh, scan: scanStats(0, 0, t0) };
    return this.#last;
  }

  /**
   * The identity of the process serving one new connection (its local end, as in
   * identifyConnection). When a holder known from the last identify() holds the connection's
   * server end, answers from the holders alone; otherwise walks /proc (identifyConnection), and
   * the answer then differs from `current`: the caller treats that as a changed upstream.
   */
  async connection(local: { address: string; port: number }): Promise<UpstreamIdentity> {
    const t0 = performance.now();
    const peer = await peerOf(this.#proc, local);
    const last = this.#last;
    if (!('reason' in peer) && last?.kind === 'local') {
      const b = bounds(this.#o, t0);
      const mine: number[] = [];
      for (const p of last.processes)
        if (await holds(this.#proc, p.pid, peer.inodes, b.maxFds)) mine.push(p.pid);
      const fresh =
        mine.length > 0
          ? await this.#redescribe(
              last.processes.filter((p) => mine.includes(p.pid)),
              peer.inodes,
              t0,
            )
          : null;
      if (fresh !== null)
        return { kind: 'local', sockets: peer.sockets, processes: fresh, scan: scanStats(0, 0, t0) };
    }
    return follow(this.#o, peer, t0);
  }

  /** The processes described again, each still holding one of `inodes`; null when one does not. */
  async #redescribe(ps: UpstreamProcess[], inodes: bigint[], t0: number): Promise<UpstreamProcess[] | null> {
    const b = bounds(this.#o, t0);
    const out: UpstreamProcess[] = [];
    for (const p of ps) {
      if (!(await holds(this.#proc, p.pid, inodes, b.maxFds))) return null;
      const d = await describe(this.#proc, p.pid, b);
      if (d === null) return null;
      out.push(d);
    }
    return out;
  }
}
