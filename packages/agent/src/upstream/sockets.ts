import { join } from 'node:path';
import { AgentError } from '../errors.ts';
import { NET_LIMITS, parseTcpTable, parseUnixTable, SO_ACCEPTCON, TCP_LISTEN, type TcpRow } from './net.ts';
import { readBounded } from './scan.ts';
import { accepts, canonicalIp, type UpstreamTarget, unmap } from './target.ts';
import { none, scanStats, type UpstreamNone, type UpstreamSocket } from './types.ts';

// Finds, in the agent's network namespace's socket tables, the sockets to follow to processes:
// the listeners of an upstream target, or the server end of one of the agent's connections.

/** Sockets found, with their inodes. */
export type Found = { sockets: UpstreamSocket[]; inodes: bigint[] } | UpstreamNone;

// Asynchronous reads (the kernel's work stays off the event loop): reading /proc/net/tcp walks the
// whole established hash (262,144 buckets on the 2-core dev VM: 3.0 ms for a 3-row table, tcp6
// 1.3 ms, unix 0.1 ms, measured with readFileSync), so these are the floor of every check().

/** A table of `<proc>/net`; a missing tcp6 (IPv6 disabled) is an empty table. */
async function table(proc: string, name: 'tcp' | 'tcp6' | 'unix'): Promise<string> {
  try {
    // Bounded: one byte over the cap, so the parser names the size rather than memory running out.
    return new TextDecoder().decode(await readBounded(join(proc, 'net', name), NET_LIMITS.tableBytes));
  } catch (e) {
    if (name === 'tcp6' && (e as NodeJS.ErrnoException).code === 'ENOENT') return '  sl  local_address\n';
    throw e;
  }
}

async function tcpRows(proc: string): Promise<TcpRow[]> {
  const [v4, v6] = await Promise.all([table(proc, 'tcp'), table(proc, 'tcp6')]);
  return [...parseTcpTable(v4, 4), ...parseTcpTable(v6, 6)];
}

const hostPort = (family: 4 | 6, address: string, port: number) =>
  `${family === 4 ? address : `[${address}]`}:${port}`;

async function found(
  t0: number,
  look: () => Promise<UpstreamSocket[]>,
  missing: UpstreamNone['reason'],
  detail: string,
): Promise<Found> {
  let sockets: UpstreamSocket[];
  try {
    sockets = await look();
  } catch (e) {
    if (e instanceof AgentError && e.code === 'UPSTREAM_PROC_MALFORMED')
      return none('proc-malformed', e.message, scanStats(0, 0, t0));
    return none('proc-unreadable', (e as Error).message, scanStats(0, 0, t0));
  }
  if (sockets.length === 0) return none(missing, detail, scanStats(0, 0, t0));
  sockets.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return { sockets, inodes: sockets.map((x) => BigInt(x.inode)) };
}

/** The listening sockets that accept connections to `target`. */
export function listening(proc: string, target: Exclude<UpstreamTarget, { kind: 'remote' }>): Promise<Found> {
  const t0 = performance.now();
  const where = target.kind === 'unix' ? target.path : `port ${target.port}`;
  return found(
    t0,
    async () => {
      const out: UpstreamSocket[] = [];
      if (target.kind === 'unix') {
        for (const r of parseUnixTable(await table(proc, 'unix')))
          if (r.path === target.path && (r.flags & SO_ACCEPTCON) !== 0)
            out.push({ address: `unix:${r.path}`, inode: String(r.inode) });
        return out;
      }
      for (const r of await tcpRows(proc)) {
        if (r.state !== TCP_LISTEN || r.localPort !== target.port || r.inode === 0n) continue;
        const bound = { family: r.family, address: r.localAddress };
        if (target.addresses.some((to) => accepts(bound, to)))
          out.push({ address: hostPort(r.family, r.localAddress, r.localPort), inode: String(r.inode) });
      }
      return out;
    },
    'no-listener',
    `no listening socket on ${where} in this network namespace's /proc/net: nothing listens there, or the server is in another network namespace or reached through NAT`,
  );
}

/**
 * The server end of the agent's TCP connection whose local end is `local`: every non-listening
 * row whose remote end is `local` (the kernel keeps the addresses a socket was connected with; a
 * NAT rule that redirected the connection shows here as the server end's real local port).
 */
export function peerOf(proc: string, local: { address: string; port: number }): Promise<Found> {
  const t0 = performance.now();
  const me = unmap(canonicalIp(local.address));
  return found(
    t0,
    async () => {
      const out: UpstreamSocket[] = [];
      for (const r of await tcpRows(proc)) {
        if (r.state === TCP_LISTEN || r.remotePort !== local.port || unmap(r.remoteAddress) !== me) continue;
        if (r.localPort === local.port && unmap(r.localAddress) === me) continue; // a self-connection
        if (r.inode === 0n) continue; // in the accept queue (no fd yet) or TIME_WAIT
        out.push({
          address: `${hostPort(r.family, r.localAddress, r.localPort)}<-${hostPort(r.family, r.remoteAddress, r.remotePort)}`,
          inode: String(r.inode),
        });
      }
      return out;
    },
    'no-peer',
    `no accepted socket on this host has ${local.address}:${local.port} as its remote end: the connection leads to another machine or network namespace (NAT), or the server has not accepted it yet`,
  );
}
