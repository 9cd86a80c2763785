import type { DemoRow } from './exchange.ts';
import type { RoutingLabel } from './lb.ts';
import type { Stack } from './stack.ts';

/** The level an honest answer reaches on this stack: L2 for generated text with TPMs and telemetry. */
export function expectedLevel(stack: Stack, r: DemoRow): DemoRow['level'] {
  if (!stack.l1) return 'L0';
  return stack.telemetry !== undefined && r.endpoint !== 'embeddings' ? 'L2' : 'L1';
}

/** Whether a row is as it should be: honest at its level with no failed check, cheap caught. */
export function asExpected(stack: Stack, r: DemoRow): boolean {
  if (r.backend === 'unknown') return false;
  if (r.backend === 'honest') return r.ok && r.level === expectedLevel(stack, r);
  const failed = (name: string) => r.checks.some((c) => c.name === name && c.status === 'fail');
  // The cheap backend's weights are sample-1b, and its GPU spends 0.6 times the energy per token.
  const telemetry =
    stack.telemetry === undefined || r.endpoint === 'embeddings' || failed('telemetry.consistent');
  return failed('weights.allowed') && telemetry;
}

const LEVELS = ['L0', 'L1', 'L2', 'L3'];

/**
 * Whether the verdict says the answer is less than what was paid for: a failed check (the
 * model's weights, the telemetry, ...) or a level below the one an honest answer reaches here.
 */
export function downgraded(stack: Stack, r: DemoRow): boolean {
  return !r.ok || LEVELS.indexOf(r.level) < LEVELS.indexOf(expectedLevel(stack, r));
}

/** One host's answers in the summary. */
export interface HostTally {
  host: string;
  variant: 'honest' | 'cheap';
  /** Its load-balancer weight (0: nothing routed to it). */
  weight: number;
  answers: number;
  /** Answers per level reached. */
  levels: Record<string, number>;
  /** Answers whose verdict is below what was paid for (see `downgraded`). */
  downgraded: number;
}

/** What the verifier said, compared with where each request really went. */
export interface DemoSummary {
  routing: RoutingLabel;
  /** nginx's URL, or null when the client routed itself. */
  url: string | null;
  /** Where "where it went" comes from: nginx's access log, or the client's own choice without nginx. */
  groundTruth: string;
  /** The cheat share asked for, and the one the weights give (rounded to a whole percent). */
  cheat: { asked: number; share: number };
  hosts: HostTally[];
  /** Answers nginx's log did not name a host for (expected 0). */
  unknown: number;
  /** Answers whose receipt names another agent than the host that served them (expected 0). */
  agentMismatch: number;
  /** Answers the cheap host served, how many the verdicts caught, and their share (null: none served). */
  cheap: { served: number; caught: number; caughtShare: number | null };
  /** Answers honest hosts served, and how many the verdicts wrongly downgraded (must be 0). */
  honest: { served: number; falseAlarms: number };
  /** Every cheap answer caught, no false alarm, every answer placed. */
  ok: boolean;
}

/** Compares the verdicts of `rows` (the routed round) with where each answer really went. */
export function summarize(stack: Stack, rows: DemoRow[]): DemoSummary {
  const hosts = stack.lb.weights.map(
    (w): HostTally => ({
      host: w.host,
      variant: w.variant,
      weight: w.weight,
      answers: 0,
      levels: {},
      downgraded: 0,
    }),
  );
  let unknown = 0;
  let agentMismatch = 0;
  const cheap = { served: 0, caught: 0, caughtShare: null as number | null };
  const honest = { served: 0, falseAlarms: 0 };
  for (const r of rows) {
    const h = hosts.find((x) => x.host === r.host);
    if (h === undefined) {
      unknown++;
      continue;
    }
    if (r.agent !== null && r.agent !== h.host) agentMismatch++;
    const down = downgraded(stack, r);
    h.answers++;
    h.levels[r.level] = (h.levels[r.level] ?? 0) + 1;
    if (down) h.downgraded++;
    const side = h.variant === 'cheap' ? cheap : honest;
    side.served++;
    if (h.variant === 'cheap' && down) cheap.caught++;
    if (h.variant === 'honest' && down) honest.falseAlarms++;
  }
  if (cheap.served > 0) cheap.caughtShare = cheap.caught / cheap.served;
  const nginx = stack.lb.routing === 'nginx';
  return {
    routing: stack.lb.label,
    url: stack.lb.url ?? null,
    groundTruth: nginx
      ? "nginx's access log ($upstream_addr by nginx's request id)"
      : "the client's own routing",
    cheat: { asked: stack.lb.asked, share: stack.lb.share },
    hosts,
    unknown,
    agentMismatch,
    cheap,
    honest,
    ok: unknown === 0 && agentMismatch === 0 && honest.falseAlarms === 0 && cheap.caught === cheap.served,
  };
}

/** The summary as lines of text. */
export function summaryText(s: DemoSummary): string {
  const weights = s.hosts.map((h) => `${h.host} ${h.weight}`).join(', ');
  const lines = [
    `routing: ${s.routing}${s.url !== null ? ` ${s.url}` : ''}; where each request went: ${s.groundTruth}`,
    `cheat share ${s.cheat.asked} asked, ${s.cheat.share} configured (weights: ${weights})`,
    `${'host'.padEnd(14)}  ${'kind'.padEnd(6)}  answers  ${'levels'.padEnd(16)}  downgraded`,
  ];
  for (const h of s.hosts) {
    const levels = Object.entries(h.levels)
      .sort()
      .map(([l, n]) => `${l} ${n}`)
      .join(', ');
    lines.push(
      `${h.host.padEnd(14)}  ${h.variant.padEnd(6)}  ${String(h.answers).padEnd(7)}  ${(levels || '-').padEnd(16)}  ${h.downgraded}`,
    );
  }
  const pct = s.cheap.caughtShare === null ? 'none served' : `${Math.round(s.cheap.caughtShare * 100)}%`;
  lines.push(
    `cheap answers caught: ${s.cheap.caught} of ${s.cheap.served} (${pct}); false alarms on honest hosts: ${s.honest.falseAlarms} of ${s.honest.served}`,
  );
  if (s.unknown > 0) lines.push(`ANSWERS NGINX LOGGED NO HOST FOR: ${s.unknown}`);
  if (s.agentMismatch > 0)
    lines.push(`RECEIPTS NAMING ANOTHER AGENT THAN THE HOST THAT SERVED THEM: ${s.agentMismatch}`);
  return `${lines.join('\n')}\n`;
}
