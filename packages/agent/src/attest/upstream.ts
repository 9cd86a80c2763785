import type { UpstreamIdentity } from '../upstream/index.ts';

/** Bounds of evidence `upstream` (the verifier's UPSTREAM_LIMITS; docs/evidence.md). */
export const UPSTREAM_EVIDENCE_LIMITS = { processes: 16, files: 256, path: 4096, reason: 1024 } as const;

/** Evidence `upstream` (docs/evidence.md): which local processes serve the agent's upstream. */
export interface UpstreamEvidence {
  kind: 'local' | 'remote' | 'none';
  reason?: string;
  processes: { pid: number; exe: string | null; files: string[] }[];
}

// Shared objects and bytecode an engine maps by the hundred: past the file bound, they go last,
// so that a weights file is not cut for them.
const LIBRARY = /\.so(\.[0-9.]+)?$|\.pyc?$|\.jar$/;

/**
 * Evidence `upstream` from an identification (pure): at most 16 processes (lowest pids), 256
 * files each (files that look like shared libraries or bytecode are left out first), paths of
 * at most 4,096 characters (a longer path is left out; a longer exe is null).
 */
export function upstreamEvidence(id: UpstreamIdentity): UpstreamEvidence {
  const L = UPSTREAM_EVIDENCE_LIMITS;
  const clip = (s: string) => (s.length > L.reason ? `${s.slice(0, L.reason - 1)}…` : s);
  if (id.kind === 'remote') return { kind: 'remote', reason: clip(`remote host ${id.host}`), processes: [] };
  if (id.kind === 'none') return { kind: 'none', reason: clip(`${id.reason}: ${id.detail}`), processes: [] };
  const processes = id.processes.slice(0, L.processes).map((p) => {
    let files = p.files.filter((f) => f.length > 0 && f.length <= L.path);
    if (files.length > L.files) {
      const plain = files.filter((f) => !LIBRARY.test(f));
      files = [...plain, ...files.filter((f) => LIBRARY.test(f))].slice(0, L.files).sort();
    }
    const exe = p.exe !== null && p.exe.length > 0 && p.exe.length <= L.path ? p.exe : null;
    return { pid: p.pid, exe, files };
  });
  return { kind: 'local', processes };
}
