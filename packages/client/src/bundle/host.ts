import { agentKeyId, type Check, CoreError, sha256, toHex } from '@tmb/core';
import { appraiseBootLog, type BootAppraisal, bootAggregate } from '@tmb/core/boot';
import {
  compileKernelRefs,
  emptyKernelFacts,
  foldKernelColumns,
  type HostSegment,
  type KernelFacts,
  type KernelLookups,
  type KernelRefs,
  segmentOf,
  servedCheck,
  type UpstreamEvidence,
  upstreamCheck,
  weightsCheck,
} from '@tmb/core/host';
import {
  AGENT_KEY_EVENT,
  advanceIma,
  advanceImaColumns,
  compilePolicy,
  initialImaState,
  parseBinaryColumns,
  parseBinaryLog,
  parseRuntimePolicy,
} from '@tmb/core/ima';
import { compileRegistry, parseRegistry } from '@tmb/core/registry';
import type { ClientCheck } from '../types.ts';
import type { DecodedEvidence } from './decode.ts';
import { Memo } from './memo.ts';
import type { BundleEvidence } from './types.ts';

const KERNEL_PCR = 10;

const fail = (name: string, err: unknown, what: string): Check => {
  if (!(err instanceof CoreError)) throw err;
  return { name, status: 'fail', code: err.code, detail: `${what}: ${err.message}` };
};

/**
 * log.replay: the agent's measurement log, from entry 0 of the boot, replays exactly to the
 * quoted application PCR (strict: nothing past the quote); returns the key ids bound in it by
 * `tmb.agent-key` events (their digest the SHA-256 of the 32-byte key).
 */
export function appLogCheck(
  b: DecodedEvidence,
  e: BundleEvidence,
  quoted: Uint8Array,
  resetCount: number,
): { check: ClientCheck; bound: ReadonlySet<string> } {
  const pcr = e.appLog.pcr;
  const r = appLogs.get(`${pcr} ${toHex(quoted)} ${resetCount} ${e.appLog.entries}`, () =>
    appLogCheckOf(b, pcr, quoted, resetCount),
  );
  return { check: { ...r.check }, bound: r.bound };
}

// Replays of one quote's measurement logs by their exact text and quoted values (shared by its
// receipts). The keys hold the logs' text: at most 2 kernel logs (64 MiB each at the cap) and 8
// agent logs (8 MiB) are kept: at most about 260 MB of base64url text, typically a few MB.
const appLogs = new Memo<{ check: ClientCheck; bound: ReadonlySet<string> }>(8, 'quote');
const kernels = new Memo<{ replay: Check | null; facts: KernelFacts | null; boot: BootAppraisal | null }>(
  2,
  'quote',
);

function appLogCheckOf(
  b: DecodedEvidence,
  pcr: number,
  quoted: Uint8Array,
  resetCount: number,
): { check: ClientCheck; bound: ReadonlySet<string> } {
  const name = 'log.replay';
  const bound = new Set<string>();
  try {
    const entries = parseBinaryLog(b.appLog);
    const r = advanceIma(
      initialImaState('sha256', pcr, resetCount),
      { startIndex: 0, entries, quotedPcr: quoted, resetCount },
      // Offline the whole log is here: a quoted PCR no prefix of it reaches is a failure, not a
      // round to wait for (as for the kernel log below).
      { maxUnmatchedRounds: 0, strict: true, checkTemplateHash: true },
    );
    const bad = r.checks.find((c) => c.status === 'fail');
    if (bad) return { check: { ...bad, name }, bound };
    for (const e of r.accepted) {
      const key = e.extra;
      if (e.path !== AGENT_KEY_EVENT || e.template !== 'ima-buf' || key === null || key.length !== 32)
        continue;
      if (toHex(sha256(key)) === e.digest) bound.add(agentKeyId(key));
    }
    return {
      check: {
        name,
        status: 'pass',
        detail: `checked here: ${r.accepted.length} entries replay to the quoted PCR ${pcr}`,
      },
      bound,
    };
  } catch (err) {
    return { check: fail(name, err, 'measurement log'), bound };
  }
}

// Compiled reference values by their JSON text: receipts of one host share them.
const compiled = new Memo<{ refs: KernelRefs; lookups: KernelLookups }>(16);

/** The bundle's reference values, parsed and compiled; a malformed one is a named failure. */
function refsOf(e: BundleEvidence): { refs: KernelRefs; lookups: KernelLookups } | Check {
  try {
    return compiled.get(JSON.stringify([e.policy.runtime, e.policy.registry]), () => {
      const refs = {
        policy: e.policy.runtime === null ? null : compilePolicy(parseRuntimePolicy(e.policy.runtime)),
        registry: e.policy.registry === null ? null : compileRegistry(parseRegistry(e.policy.registry)),
      };
      return { refs, lookups: compileKernelRefs(refs) };
    });
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return {
      name: 'host.integrity',
      status: 'fail',
      code: err.code,
      detail: `the bundle's policy: ${err.message}`,
    };
  }
}

/**
 * host.integrity, host.boot and, with a registry, weights.allowed, host.engine, host.agent,
 * telemetry.tool and host.upstream: the kernel's IMA log from entry 0 replayed to the quoted
 * PCR 10 (template hashes too), folded with core's foldKernelColumns against the bundle's
 * policy and registry, the boot log replayed to the quoted PCRs 0-9, and core's segmentOf:
 * the same functions the verifier judges a quote with, over the whole boot at once.
 */
export function hostChecks(
  b: DecodedEvidence,
  e: BundleEvidence,
  pcrs: ReadonlyMap<number, Uint8Array>,
  resetCount: number,
  size: number,
  model: string | null,
  served: string | null = null,
): { checks: ClientCheck[]; segment: HostSegment | null } {
  const compiledRefs = refsOf(e);
  if ('status' in compiledRefs)
    return {
      checks: [
        compiledRefs,
        { name: 'host.boot', status: 'skipped', detail: 'the bundle policy is malformed' },
      ],
      segment: null,
    };
  const { refs, lookups } = compiledRefs;
  const pcrText = Array.from({ length: 11 }, (_, i) => toHex(pcrs.get(i) ?? new Uint8Array(0))).join(',');
  const kernelKey = JSON.stringify([
    e.kernel === null,
    pcrText,
    resetCount,
    e.quoted.telemetryTool,
    e.policy,
    e.kernel?.bootLog ?? null,
  ]);
  const { replay, facts, boot } = kernels.get(`${kernelKey} ${e.kernel?.entries ?? ''}`, () =>
    kernelOf(b, e, pcrs, resetCount, lookups),
  );
  const { name: _n, ...bootCheck } = boot?.check ?? {
    name: 'host.boot',
    status: 'fail' as const,
    code: 'BOOT_LOG_ABSENT' as const,
    detail: 'the bundle carries no UEFI event log: PCRs 0-9 are unexplained',
  };
  const segment = segmentOf({
    size,
    resetCount,
    facts: b.kernel === null ? null : (facts ?? emptyKernelFacts()),
    boot: {
      ...bootCheck,
      kind: boot === null ? 'absent' : boot.simulated ? 'simulated' : 'measured',
      secureBoot: boot?.secureBoot ?? null,
    },
    registry: refs.registry,
    upstream: (e.quoted.upstream ?? null) as UpstreamEvidence | null,
  });
  if (replay !== null) {
    const { name: _r, ...integrity } = replay;
    segment.integrity = integrity;
  }
  const here = (c: Check): ClientCheck =>
    c.status === 'pass' ? { ...c, detail: `checked here: ${c.detail}` } : (c as ClientCheck);
  const checks: ClientCheck[] = [
    here({ name: 'host.integrity', ...segment.integrity }),
    here({ name: 'host.boot', ...segment.boot }),
  ];
  const reg = refs.registry;
  if (reg !== null) {
    const weights: Check =
      segment.host.kernel === 'absent'
        ? {
            name: 'weights.allowed',
            status: 'skipped',
            detail: 'no kernel IMA log: no weights were measured by the kernel',
          }
        : weightsCheck(model, segment.weights, reg);
    checks.push(
      here(weights),
      here({ name: 'host.engine', ...segment.engine }),
      here({ name: 'host.agent', ...segment.agent }),
      here({ name: 'telemetry.tool', ...segment.tool }),
      here(upstreamCheck(model, segment.upstream, reg)),
      here(servedCheck(served, segment.weights, segment.host.kernel !== 'absent')),
    );
  }
  return { checks, segment };
}

/** The kernel log replayed and folded, and the boot log appraised, for one quote (memoised by kernels). */
function kernelOf(
  b: DecodedEvidence,
  e: BundleEvidence,
  pcrs: ReadonlyMap<number, Uint8Array>,
  resetCount: number,
  lookups: KernelLookups,
): { replay: Check | null; facts: KernelFacts | null; boot: BootAppraisal | null } {
  let replay: Check | null = null;
  let facts: KernelFacts | null = null;
  if (b.kernel !== null) {
    try {
      const columns = parseBinaryColumns(b.kernel);
      const digests: string[] = [];
      const r = advanceImaColumns(
        initialImaState('sha256', KERNEL_PCR, resetCount),
        { startIndex: 0, columns, quotedPcr: pcrs.get(KERNEL_PCR)!, resetCount },
        { maxUnmatchedRounds: 0, checkTemplateHash: true, strict: true, digests },
      );
      const bad = r.checks.find((c) => c.status === 'fail');
      if (bad) replay = { ...bad, name: 'host.integrity', detail: `kernel log: ${bad.detail}` };
      else
        facts = foldKernelColumns(emptyKernelFacts(), columns, r.covered, lookups, {
          bootAggregate: toHex(bootAggregate(pcrs)),
          toolPath: e.quoted.telemetryTool,
          pcrIndex: KERNEL_PCR,
          digests,
        });
    } catch (err) {
      replay = fail('host.integrity', err, 'kernel log');
    }
  }
  const boot =
    b.bootLog === null
      ? null
      : appraiseBootLog({
          log: b.bootLog,
          pcrs,
          policy: (e.policy.boot ?? null) as Parameters<typeof appraiseBootLog>[0]['policy'],
        });
  return { replay, facts, boot };
}
