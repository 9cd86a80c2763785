import type { Check, ReceiptBody } from '@tmb/core';
import type { BootPolicy } from '@tmb/core/boot';
import { appraiseHost, type CompiledPolicy, type CompiledRegistry, weightsVerdict } from '@tmb/core/ima';
import type { HostLedger, HostRun } from './ledger.ts';

/** The reference values a verifier appraises hosts against (docs/registry.md). */
export interface HostReferences {
  registry: CompiledRegistry | null;
  /** A Keylime runtime policy for the file entries of measurement logs. */
  policy: CompiledPolicy | null;
  /** The measured-boot reference policy (docs/boot.md), or null: the boot log must only replay. */
  boot?: BootPolicy | null;
}

/** An agent's two ledgers: fed by TPM-quoted evidence, and by logs the agent only posted. */
export interface AgentHost {
  quoted: HostLedger | null;
  asserted: HostLedger | null;
}

const short = (d: string) => `${d.slice(0, d.indexOf(':') + 17)}…`;

/**
 * The host checks of one receipt (docs/result.md): `weights.allowed`, `host.engine`,
 * `host.agent` against the registry, and `ima.policy` when a Keylime policy is loaded. The run
 * is the one of the key that signed the receipt; a quoted run is preferred to an asserted one.
 *
 * weights.allowed: pass when every weights digest the run measured, under a quote, is allowed
 * for `model.requested`; fail WEIGHTS_NOT_ALLOWED naming whose weights they are (also when only
 * the provider's own unquoted log names them: its own word convicts it), MODEL_UNKNOWN for a
 * model the registry lacks; `asserted` when allowed but no quote covers the log; `skipped`
 * when no weights measurement reached the verifier. Returns [] without a registry or policy.
 */
export function appraiseHostEvidence(host: AgentHost, body: ReceiptBody, refs: HostReferences): Check[] {
  const quotedRun = host.quoted?.runs[body.key];
  const run = quotedRun ?? host.asserted?.runs[body.key];
  const quoted = quotedRun !== undefined;
  const how = quoted
    ? 'measured under a TPM quote'
    : "named by the agent's own log, which no TPM quote covers";
  const checks: Check[] = [];
  if (refs.registry !== null) {
    checks.push(weightsCheck(run, quoted, how, body, refs.registry));
    checks.push(...hostChecks(run, quoted, how, refs.registry));
  }
  if (refs.policy !== null) checks.push(policyCheck(run, quoted));
  return checks;
}

function weightsCheck(
  run: HostRun | undefined,
  quoted: boolean,
  how: string,
  body: ReceiptBody,
  reg: CompiledRegistry,
): Check {
  const name = 'weights.allowed';
  const model = body.model.requested;
  if (model === null) return { name, status: 'skipped', detail: 'the request names no model' };
  if (run === undefined || run.weights.length === 0)
    return {
      name,
      status: 'skipped',
      detail: `no weights measurement of key ${body.key.slice(0, 16)}… reached the verifier`,
    };
  // Every digest is judged as if measured: whether a quote covers it decides pass vs asserted below.
  const results = run.weights.map((d) => weightsVerdict(model, d, new Set(run.weights), reg));
  const unknown = results.find((r) => r.verdict.status === 'unknown-model');
  if (unknown) return unknown.check;
  const bad = results.find((r) => r.verdict.status !== 'allowed');
  if (bad) {
    const owners = bad.verdict.belongsTo;
    const whose =
      owners.length > 0 ? `these weights are ${owners.join(', ')}` : 'they belong to no registered model';
    return {
      name,
      status: 'fail',
      code: 'WEIGHTS_NOT_ALLOWED',
      detail: `weights ${short(bad.verdict.digest ?? '?')} (${how}) are not allowed for ${JSON.stringify(model)}: ${whose}`,
    };
  }
  const list = run.weights.map(short).join(', ');
  return quoted
    ? {
        name,
        status: 'pass',
        detail: `weights ${list} (${how}) are an allowed build of ${JSON.stringify(model)}`,
      }
    : {
        name,
        status: 'asserted',
        detail: `weights ${list} are an allowed build of ${JSON.stringify(model)}, but they are ${how}: only the provider's word`,
      };
}

function hostChecks(run: HostRun | undefined, quoted: boolean, how: string, reg: CompiledRegistry): Check[] {
  const out: Check[] = [];
  const measured = new Set([...(run?.engine ?? []), ...(run?.agentBuild ?? [])]);
  const [agent, engine] = appraiseHost(measured, reg);
  const soften = (c: Check | undefined, skipWhy: string | null): Check | undefined => {
    if (c === undefined) return undefined;
    if (skipWhy !== null) return { name: c.name, status: 'skipped', detail: skipWhy };
    if (run === undefined)
      return {
        name: c.name,
        status: 'skipped',
        detail: 'no measurement log of this key reached the verifier',
      };
    if (c.status === 'pass' && !quoted)
      return { name: c.name, status: 'asserted', detail: `${c.detail}, ${how}` };
    return c.status === 'fail' ? { ...c, detail: `${c.detail} (${how})` } : c;
  };
  const e = soften(
    engine,
    Object.keys(reg.registry.engines).length === 0 ? 'the registry lists no engines' : null,
  );
  const a = soften(agent, reg.agents.size === 0 ? 'the registry lists no agent builds' : null);
  if (e) out.push(e);
  if (a) out.push(a);
  return out;
}

function policyCheck(run: HostRun | undefined, quoted: boolean): Check {
  const name = 'ima.policy';
  if (run === undefined)
    return { name, status: 'skipped', detail: 'no measurement log of this key reached the verifier' };
  if (run.policyFailed === 0) {
    const detail = `${run.policyAppraised} file entries allowed by the runtime policy`;
    return quoted
      ? { name, status: 'pass', detail }
      : { name, status: 'asserted', detail: `${detail}, in a log no TPM quote covers` };
  }
  const first = run.policyFailures[0] ?? '';
  const code = (/: ([A-Z_]+)$/.exec(first)?.[1] ?? 'IMA_DIGEST_NOT_ALLOWED') as Check['code'];
  return {
    name,
    status: 'fail',
    ...(code ? { code } : {}),
    detail: `${run.policyFailed} of ${run.policyAppraised} file entries not allowed by the runtime policy: ${run.policyFailures.join('; ')}`,
  };
}
