import type { Check, Level, VerdictTpm } from '@tmb/core';
import type { HostSegments, HostSummary, SegmentCheck } from '@tmb/core/host';
import { loadAttest } from '../attest/state.ts';
import type { Store } from '../store/types.ts';
import type { FeedVerdict } from './feed.ts';

/** Most hosts one answer lists (each costs two store reads); the answer says when it stopped. */
export const MAX_HOSTS = 500;

/** One host (agent) as the dashboard shows it (GET /v1/dashboard/hosts, docs/dashboard.md). */
export interface HostView {
  agent: string;
  /** Receipt keys enrolled (one per agent start), and when the last one was. */
  keys: number;
  enrolledAt: number | null;
  /** The agent's TPM: AK name, activation time, EK root; null when no AK was activated. */
  tpm: { akName: string; activatedAt: number; root: VerdictTpm | null } | null;
  /** The last accepted quote: when, the checkpoint size it covers, and its evidence checks. */
  quote: { at: number; size: number; checks: Check[] } | null;
  /** What the host facts rest on (kernel and boot logs, Secure Boot), from the last quote. */
  host: HostSummary | null;
  /** Policy state at the last quote: runtime policy (host.integrity), boot policy (host.boot),
   * engine, agent build and telemetry tool, and the upstream's kind. Null before any quote. */
  policy: {
    runtime: SegmentCheck;
    boot: SegmentCheck;
    engine: SegmentCheck;
    agent: SegmentCheck;
    tool: SegmentCheck;
    upstream: 'local' | 'remote' | 'none' | null;
  } | null;
  /** The last verdict this process composed for the host (the live feed), or null. */
  latest: FeedVerdict | null;
  /** Of the recent verdicts this process composed: how many at each level, and failures by check name. */
  recent: { levels: Partial<Record<Level, number>>; failures: Record<string, number> };
}

/** What the host list is read from. */
export interface HostSources {
  store: Pick<Store, 'listKeys' | 'agentKeys' | 'getAttestRows'>;
  segments: { of(agent: string): Promise<HostSegments> };
  recent(agent: string): readonly FeedVerdict[];
}

/**
 * The hosts `agents` names (or every agent with a token or an enrolled key, when null), sorted,
 * at most MAX_HOSTS; `configured` are the agents the verifier has tokens for.
 */
export async function hostViews(
  s: HostSources,
  only: string | null,
  configured: readonly string[],
): Promise<{ hosts: HostView[]; truncated: boolean }> {
  const keys = only === null ? await s.store.listKeys() : await s.store.agentKeys(only);
  const names = new Set(only === null ? configured : [only]);
  for (const k of keys) names.add(k.agent);
  const sorted = [...names].sort();
  const hosts: HostView[] = [];
  for (const agent of sorted.slice(0, MAX_HOSTS)) {
    const mine = keys.filter((k) => k.agent === agent);
    hosts.push(await hostView(s, agent, mine.length, mine.at(-1)?.enrolledAt ?? null));
  }
  return { hosts, truncated: sorted.length > MAX_HOSTS };
}

async function hostView(
  s: HostSources,
  agent: string,
  keys: number,
  enrolledAt: number | null,
): Promise<HostView> {
  const a = await loadAttest(s.store, agent);
  const seg = (await s.segments.of(agent)).segments.at(-1);
  const recent = s.recent(agent);
  return {
    agent,
    keys,
    enrolledAt,
    tpm: a === undefined ? null : { akName: a.akName, activatedAt: a.activatedAt, root: a.tpm ?? null },
    quote:
      a?.acceptedAt == null || a.checkpoint === null
        ? null
        : { at: a.acceptedAt, size: a.checkpoint.size, checks: a.checks },
    host: seg?.host ?? null,
    policy:
      seg === undefined
        ? null
        : {
            runtime: seg.integrity,
            boot: seg.boot,
            engine: seg.engine,
            agent: seg.agent,
            tool: seg.tool,
            upstream: seg.upstream?.kind ?? null,
          },
    latest: recent.at(-1) ?? null,
    recent: tally(recent),
  };
}

function tally(list: readonly FeedVerdict[]): HostView['recent'] {
  const levels: Partial<Record<Level, number>> = {};
  const failures: Record<string, number> = {};
  for (const v of list) {
    levels[v.level] = (levels[v.level] ?? 0) + 1;
    for (const f of v.failing) failures[f.name] = (failures[f.name] ?? 0) + 1;
  }
  return { levels, failures };
}
