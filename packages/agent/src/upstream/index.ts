/**
 * Which process serves the agent's upstream, read from the kernel's own tables under /proc
 * (docs/upstream.md): the listening socket (or the server end of one connection), the processes
 * holding it, their executables and the files they have open or mapped.
 */
export { identifyConnection, identifyUpstream, UpstreamWatch } from './identify.ts';
export type { FdTarget, MapsRow } from './maps.ts';
export { PROC_LIMITS, parseCmdline, parseFdTarget, parseMaps } from './maps.ts';
export type { TcpRow, UnixRow } from './net.ts';
export { NET_LIMITS, parseTcpTable, parseUnixTable } from './net.ts';
export type { UpstreamProcess } from './scan.ts';
export type { UpstreamTarget } from './target.ts';
export { upstreamTarget } from './target.ts';
export type {
  IdentifyOptions,
  UpstreamIdentity,
  UpstreamNone,
  UpstreamNoneReason,
  UpstreamScan,
  UpstreamSocket,
} from './types.ts';
