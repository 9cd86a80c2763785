import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { listFiles, manifest } from './files.ts';

/**
 * The source trees an agent build is made of, relative to the repository's `packages/`:
 * the agent itself and the two libraries of ours it runs, core and stats (its npm dependencies
 * are pinned by the lock file, which is left out: see docs/registry.md).
 */
export const AGENT_BUILD_TREES = ['agent/src', 'core/src', 'stats/src'] as const;

/** An agent build: its manifest (sha256sum format) and the manifest's digest, `sha256:<hex>`. */
export interface AgentBuild {
  manifest: Uint8Array;
  digest: string;
}

/**
 * The digest of the agent's own build: the SHA-256 of a manifest listing every file of
 * AGENT_BUILD_TREES (`<sha256 hex>  <path from packages/>\n`, sorted bytewise), the same
 * format as a weights directory's manifest (docs/ima.md). The agent runs its TypeScript
 * sources directly, so the source tree is the build. `root` defaults to this checkout's
 * `packages/` folder; a registry lists the value `tmb agent-build` would print for a release.
 */
export async function agentBuild(
  root = fileURLToPath(new URL('../../../', import.meta.url)),
): Promise<AgentBuild> {
  const files: { rel: string; hex: string }[] = [];
  for (const tree of AGENT_BUILD_TREES) {
    const base = `${root.replace(/\/$/, '')}/${tree}`;
    for (const path of await listFiles(base)) {
      const hex = createHash('sha256')
        .update(await readFile(path))
        .digest('hex');
      files.push({
        rel: `${tree}/${path
          .slice(base.length + 1)
          .split('\\')
          .join('/')}`,
        hex,
      });
    }
  }
  const m = manifest(files);
  return { manifest: m, digest: `sha256:${createHash('sha256').update(m).digest('hex')}` };
}
