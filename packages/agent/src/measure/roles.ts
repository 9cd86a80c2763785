import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AGENT_BUILD_EVENT, type HostRole, ROLE_EVENT } from '@tmb/core/ima';
import { AgentError } from '../errors.ts';
import { agentBuild } from './build.ts';
import type { MeasurementLog } from './log.ts';
import type { HostSpec } from './spec.ts';

/** One measured path and its digest (`sha256:<hex>`: the file's, or the directory manifest's). */
export interface MeasuredPath {
  role: HostRole;
  path: string;
  digest: string;
}

/** What measureHost logged. */
export interface HostMeasurements {
  paths: MeasuredPath[];
  /** The agent build digest, when measured. */
  agentBuild: string | null;
}

/**
 * Measures what `spec` names into the agent's measurement log, in this order: the agent's own
 * build (ima-buf AGENT_BUILD_EVENT, buffer = the build manifest), then each weights path, the
 * engine executable and each engine configuration file. Every path is preceded by a role
 * event (ima-buf `tmb.role:<role>`, buffer = the absolute path), so a verifier replaying the
 * log knows that the entry for that path (a file's ima-ng entry, or a directory's
 * `tmb.manifest:<dir>` event) is the weights, the engine or its configuration, and every later
 * entry for it (MeasurementLog.remeasure) too. Call it right after the `tmb.agent-key` event:
 * a verifier attributes the entries after a key event to that key (docs/registry.md).
 * @throws AgentError AGENT_CONFIG_INVALID for a path that does not exist or cannot be read
 */
export async function measureHost(log: MeasurementLog, spec: HostSpec): Promise<HostMeasurements> {
  let build: string | null = null;
  if (spec.agentBuild !== false) {
    const b = await agentBuild();
    await log.measureBuffer(AGENT_BUILD_EVENT, b.manifest);
    build = b.digest;
  }
  const paths: MeasuredPath[] = [];
  const todo: [HostRole, string][] = [
    ...(spec.weights ?? []).map((p): [HostRole, string] => ['weights', p]),
    ...(spec.engineExe === undefined ? [] : [['engine', spec.engineExe] as [HostRole, string]]),
    ...(spec.engineConfig ?? []).map((p): [HostRole, string] => ['engine-config', p]),
  ];
  for (const [role, p] of todo) {
    const abs = resolve(p);
    const info = await stat(abs).catch((cause: unknown) => {
      throw new AgentError('AGENT_CONFIG_INVALID', `cannot measure ${role} ${abs}: ${String(cause)}`, {
        cause,
      });
    });
    const isDir = info.isDirectory();
    await log.measureBuffer(`${ROLE_EVENT}${role}`, new TextEncoder().encode(abs));
    const digest = isDir
      ? (await log.measureDirectory(abs)).digest
      : `sha256:${(await log.measureFile(abs)).digest}`;
    paths.push({ role, path: abs, digest });
  }
  return { paths, agentBuild: build };
}
