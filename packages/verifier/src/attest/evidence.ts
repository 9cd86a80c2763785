import type { Check } from '@tmb/core';
import { UPSTREAM_LIMITS, type UpstreamEvidence } from '@tmb/core/host';
import type { Context } from '../api/context.ts';
import { VerifierError } from '../errors.ts';
import { asObject, stringField } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import { observeEvidence } from '../metrics.ts';
import { checkTelemetryExtension } from '../telemetry/extension.ts';
import { appraiseEvidence, type Evidence } from './appraise.ts';
import { agentRequest, bytesField } from './enroll.ts';
import type { KernelEvidence } from './kernel.ts';
import { currentRun, rejectEvidence, viewRun } from './runs.ts';
import { type AgentAttest, loadAttest, saveAttest } from './state.ts';

/** The origin of an agent's checkpoints (agent options.ts logOrigin; docs/evidence.md). */
export function logOrigin(agent: string): string {
  return `tmb/agent/${agent}`;
}

async function activated(ctx: Context, agent: string): Promise<AgentAttest> {
  const state = await loadAttest(ctx.store, agent);
  if (state === undefined)
    throw new VerifierError('AK_NOT_ENROLLED', `agent ${JSON.stringify(agent)} has no activated AK`);
  return state;
}

/**
 * POST /v1/attest/nonce {agent}: a fresh single-use nonce for the next quote, and where the
 * agent's evidence must start: `logFrom` (measurement-log index, for TPM resetCount
 * `resetCount`) and `checkpointSize` (the latest quoted checkpoint, for the consistency proof).
 */
export async function issueNonce(ctx: Context): Promise<void> {
  const { agent } = await agentRequest(ctx);
  const state = await activated(ctx, agent);
  const { nonce, expiresAt } = ctx.attest.nonces.issue(agent);
  sendJson(ctx.res, 200, {
    nonce,
    expiresAt: new Date(expiresAt).toISOString(),
    logFrom: state.ima?.nextIndex ?? 0,
    resetCount: state.ima?.resetCount ?? null,
    checkpointSize: state.checkpoint?.size ?? null,
    // The log run that size is of (docs/evidence.md, "Log runs and recovery").
    checkpointRun: state.checkpoint === null ? null : currentRun(state),
    // The kernel log from here (for TPM resetCount `resetCount`; from 0 after a reboot), and
    // whether to send the boot log: none accepted for this boot yet.
    kernelFrom: state.kernel?.ima.nextIndex ?? 0,
    bootLog: state.kernel?.boot?.check.status !== 'pass',
  });
}

/**
 * Caps on evidence v2 members, in decoded bytes (docs/evidence.md). The kernel log's first
 * appraisal needs the whole log of the boot (only all of it replays to the quoted PCR 10): a
 * 300,000-entry ima-ng log is about 40 MB, so 64 MiB.
 */
export const EVIDENCE_LIMITS = { kernel: 64 << 20, boot: 1 << 20, app: 8 << 20, toolPath: 4096 } as const;
/** The largest evidence body: every member at its cap, base64url, with room for the rest. */
export const MAX_EVIDENCE_BYTES =
  Math.ceil((EVIDENCE_LIMITS.kernel + EVIDENCE_LIMITS.boot + EVIDENCE_LIMITS.app) / 3) * 4 + (1 << 20);

const b64 = (n: number) => Math.ceil(n / 3) * 4;

/** Evidence v2's kernel, boot, telemetryTool and upstream members. @throws VerifierError BODY_MALFORMED naming the member */
export function kernelMembers(body: Record<string, unknown>): KernelEvidence {
  let kernel: KernelEvidence['kernel'] = null;
  if (body.kernel !== null && body.kernel !== undefined) {
    const k = asObject(body.kernel, '"kernel"');
    const from = k.from;
    if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)
      throw new VerifierError('BODY_MALFORMED', '"kernel.from" must be a non-negative integer');
    kernel = {
      from,
      entries: member('kernel.entries', () => bytesField(k, 'entries', b64(EVIDENCE_LIMITS.kernel))),
    };
  }
  let boot: KernelEvidence['boot'] = null;
  if (body.boot !== null && body.boot !== undefined) {
    const b = asObject(body.boot, '"boot"');
    boot = { log: member('boot.log', () => bytesField(b, 'log', b64(EVIDENCE_LIMITS.boot))) };
  }
  const tool = body.telemetryTool ?? null;
  if (
    tool !== null &&
    (typeof tool !== 'string' || tool.length > EVIDENCE_LIMITS.toolPath || !tool.startsWith('/'))
  )
    throw new VerifierError(
      'BODY_MALFORMED',
      '"telemetryTool" must be null or an absolute path of at most 4096 characters',
    );
  return { kernel, boot, telemetryTool: tool, upstream: upstreamMember(body.upstream) };
}

const UPSTREAM_KINDS: readonly string[] = ['local', 'remote', 'none'];

/**
 * Evidence `upstream` (docs/evidence.md): null when absent; bounded by UPSTREAM_LIMITS.
 * @throws VerifierError BODY_MALFORMED naming the member
 */
export function upstreamMember(v: unknown): UpstreamEvidence | null {
  if (v === null || v === undefined) return null;
  const bad = (what: string, must: string) =>
    new VerifierError('BODY_MALFORMED', `"upstream${what}" must be ${must}`);
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('', 'null or an object');
  const u = v as Record<string, unknown>;
  if (typeof u.kind !== 'string' || !UPSTREAM_KINDS.includes(u.kind))
    throw bad('.kind', '"local", "remote" or "none"');
  const reason = u.reason;
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > UPSTREAM_LIMITS.reason))
    throw bad('.reason', `a string of at most ${UPSTREAM_LIMITS.reason} characters`);
  const ps = u.processes;
  if (!Array.isArray(ps) || ps.length > UPSTREAM_LIMITS.processes)
    throw bad('.processes', `an array of at most ${UPSTREAM_LIMITS.processes} processes`);
  const path = (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= UPSTREAM_LIMITS.path;
  const processes = ps.map((p: unknown, i) => {
    const at = `.processes[${i}]`;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw bad(at, 'an object');
    const { pid, exe, files } = p as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid < 0)
      throw bad(`${at}.pid`, 'a non-negative integer');
    if (exe !== null && !path(exe))
      throw bad(`${at}.exe`, `null or a path of at most ${UPSTREAM_LIMITS.path} characters`);
    if (!Array.isArray(files) || files.length > UPSTREAM_LIMITS.files)
      throw bad(`${at}.files`, `an array of at most ${UPSTREAM_LIMITS.files} paths`);
    const ok = files.findIndex((f) => !path(f));
    if (ok >= 0) throw bad(`${at}.files[${ok}]`, `a path of at most ${UPSTREAM_LIMITS.path} characters`);
    return { pid, exe: exe as string | null, files: files as string[] };
  });
  return { kind: u.kind as UpstreamEvidence['kind'], ...(reason !== undefined ? { reason } : {}), processes };
}

function member<T>(name: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof VerifierError)) throw err;
    throw new VerifierError('BODY_MALFORMED', `"${name}": ${err.message}`, { cause: err });
  }
}

/**
 * POST /v1/attest/evidence: appraises a quote over a checkpoint (docs/evidence.md). 200
 * `{ok: true, checks}` once every check passed, and the checkpoint becomes the agent's latest
 * quoted one; 422 EVIDENCE_REJECTED `{error, checks}` naming the failed checks otherwise (the
 * nonce is spent either way).
 */
export async function postEvidence(ctx: Context): Promise<void> {
  const { agent, body } = await agentRequest(ctx, MAX_EVIDENCE_BYTES);
  const t0 = performance.now();
  // Load, appraise and save alone for this agent (lock.ts): two posts never fold from one state.
  const outcome = await ctx.attest.lock
    .run(agent, () => appraiseAndSave(ctx, agent, body))
    .catch((error: unknown) => ({ error }));
  observeEvidence(ctx, agent, outcome, (performance.now() - t0) / 1000); // log and /metrics
  if ('error' in outcome) throw outcome.error;
}

async function appraiseAndSave(
  ctx: Context,
  agent: string,
  body: Record<string, unknown>,
): Promise<{ accepted: boolean; checks: Check[] }> {
  const state = await activated(ctx, agent);
  const quote = asObject(body.quote, 'quote');
  const log = asObject(body.log, 'log');
  const from = log.from;
  if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)
    throw new VerifierError('BODY_MALFORMED', '"log.from" must be a non-negative integer');
  const nonce = stringField(body, 'nonce', 64);
  const ev: Evidence = {
    nonce,
    note: stringField(body, 'checkpoint', 128 * 1024),
    attest: bytesField(quote, 'attest', 4096),
    signature: bytesField(quote, 'signature', 4096),
    pcrs: bytesField(quote, 'pcrs', 64 * 1024),
    logFrom: from,
    log: bytesField(log, 'entries', b64(EVIDENCE_LIMITS.app)),
    consistency: body.consistency ?? null,
    ...kernelMembers(body),
  };
  const nonceRefusal = ctx.attest.nonces.consume(agent, nonce);
  const keys = (await ctx.store.listKeys()).filter((k) => k.agent === agent);
  // Grow the verifier's own tree of this agent's receipts, in the checkpoint's log run, to the
  // size the note claims, if it parses (runs.ts).
  const run = await viewRun({
    store: ctx.store,
    trees: ctx.attest.trees,
    agent,
    state,
    note: ev.note,
    now: ctx.attest.now(),
  });
  const { checks, next, segment } = appraiseEvidence({
    state,
    ev,
    nonceRefusal,
    keys,
    origin: logOrigin(agent),
    treeRoot: () => run.root,
    logRun: run,
    ...(ctx.telemetry
      ? { telemetry: (line: string) => checkTelemetryExtension(ctx.telemetry!.store, agent, line) }
      : {}),
    refs: { policy: ctx.host?.refs.policy ?? null, registry: ctx.host?.refs.registry ?? null },
    bootPolicy: ctx.host?.refs.boot ?? null,
  });
  if (next === null || segment === null) {
    rejectEvidence(ctx.res, checks, run);
    return { accepted: false, checks };
  }
  // What the host was when this quote was taken judges the receipts it newly covers. The
  // agent's own log binds keys only: weights, engine and agent build come from the kernel's.
  // Recorded before the quoted checkpoint is saved: a reader who sees a receipt covered must
  // find the segment that judges it (the other order let a verdict read in between skip every
  // host check of that receipt).
  await ctx.attest.segments.record(agent, segment);
  await saveAttest(ctx.store, agent, next);
  // The offline bundle's share of this quote (docs/bundle.md): keys by the ids the state names.
  const keyOf = (id: string | undefined) => keys.find((k) => k.keyId === id)?.key ?? null;
  const signer = keyOf(next.checkpoint?.keyId);
  if (signer !== null)
    await ctx.attest.bundles.record(agent, ev, state, next, signer, keyOf(state.checkpoint?.keyId));
  sendJson(ctx.res, 200, { ok: true, checks });
  return { accepted: true, checks };
}
