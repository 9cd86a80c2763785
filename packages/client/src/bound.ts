import {
  type CanonicalValue,
  type Check,
  canonicalBytes,
  fromBase64Url,
  LEVELS,
  type Level,
  sha256,
  toHex,
} from '@tmb/core';
import type { AnswerAttestation } from './inclusion.ts';
import type { ClientCheck } from './types.ts';

/**
 * The members of the verifier's signed EAR result (submodule `tmb-receipt`, docs/result.md) the
 * client relies on. Everything else in a verifier answer is unsigned: it is used only after its
 * digest or copy here matched (bindingCheck), or for display.
 */
export interface BoundResult {
  /** `tmb.level`: the verifier's level; the client's never exceeds it. */
  level: Level;
  /** `tmb.ok`: no check of the verifier's failed. */
  ok: boolean;
  /** `tmb.checks`: the verifier's checks. */
  checks: Check[];
  /** `tmb.host`: what the host facts rest on, or null (docs/result.md). */
  host: unknown;
  /** `tmb.tpm`: the EK trust root of the agent's TPM, or null. */
  tpm: unknown;
  /** `tmb.receipt-sha256`: hex SHA-256 of the receipt body bytes the verifier judged. */
  receiptSha256: string;
  /** `tmb.agent-key`: base64url raw Ed25519 key the receipt names, as enrolled, or null. */
  agentKey: string | null;
  /** `tmb.enrolment`: who enrolled the key the receipt was accepted under, or null. */
  enrolment: { agent: string; keyId: string; enrolledAt: number } | null;
  /** `tmb.attestation-sha256`: hex SHA-256 of the canonical JSON of the answer's `attestation`. */
  attestationSha256: string | null;
  /** `tmb.ak`: the agent's activated AK, or null. */
  ak: { name: string; activatedAt: number; ekPublicSha256: string } | null;
}

const HEX64 = /^[0-9a-f]{64}$/;
const STATUSES: readonly string[] = ['pass', 'fail', 'asserted', 'skipped'];

/**
 * The bound members of a verified `tmb-receipt` submodule, or one sentence saying which is
 * missing or malformed. The JWT's signature is already checked: a malformed member here is a
 * verifier that does not speak this version, not an attacker (who cannot sign).
 */
export function readBound(sub: Record<string, unknown>): BoundResult | string {
  const level = sub['tmb.level'];
  if (!(LEVELS as readonly unknown[]).includes(level)) return 'the result has no valid tmb.level';
  if (typeof sub['tmb.ok'] !== 'boolean') return 'the result binds no tmb.ok';
  const checks = sub['tmb.checks'];
  if (!Array.isArray(checks) || !checks.every(isCheck)) return 'the result has no valid tmb.checks';
  const receiptSha256 = sub['tmb.receipt-sha256'];
  if (typeof receiptSha256 !== 'string' || !HEX64.test(receiptSha256))
    return 'the result binds no receipt digest (tmb.receipt-sha256)';
  const agentKey = sub['tmb.agent-key'];
  if (agentKey !== null && typeof agentKey !== 'string') return 'the result has no valid tmb.agent-key';
  const att = sub['tmb.attestation-sha256'];
  if (att !== null && (typeof att !== 'string' || !HEX64.test(att)))
    return 'the result has no valid tmb.attestation-sha256';
  const enrolment = sub['tmb.enrolment'];
  if (enrolment !== null && !isEnrolment(enrolment)) return 'the result has no valid tmb.enrolment';
  const ak = sub['tmb.ak'];
  if (ak !== null && !isAk(ak)) return 'the result has no valid tmb.ak';
  if (!('tmb.host' in sub) || !('tmb.tpm' in sub)) return 'the result binds no tmb.host or tmb.tpm';
  return {
    level: level as Level,
    ok: sub['tmb.ok'] as boolean,
    checks: checks as Check[],
    host: sub['tmb.host'],
    tpm: sub['tmb.tpm'],
    receiptSha256,
    agentKey: agentKey as string | null,
    enrolment: enrolment as BoundResult['enrolment'],
    attestationSha256: att as string | null,
    ak: ak as BoundResult['ak'],
  };
}

/** What of the unsigned answer bindingCheck compares with the signed result. */
export interface Unsigned {
  /** The receipt body bytes as the verifier answered them. */
  receiptBytes: Uint8Array;
  agentKey: string | null;
  attestation: AnswerAttestation | undefined;
}

/**
 * `verifier.binding`: the receipt bytes, agent key and attestation of the verifier's answer are
 * the ones its signed result names (SHA-256 of the body bytes, the key as enrolled, SHA-256 of
 * the attestation's canonical JSON). Anything between client and verifier that changed one of
 * them fails it with RESULT_BINDING_MISMATCH, naming which. Returns the check and which members
 * may be used.
 */
export function bindingCheck(b: BoundResult, u: Unsigned): { check: ClientCheck; attestationOk: boolean } {
  const wrong: string[] = [];
  if (toHex(sha256(u.receiptBytes)) !== b.receiptSha256) wrong.push('the receipt body');
  if (u.agentKey !== b.agentKey) wrong.push('agentKey');
  const attestationOk = attestationDigest(u.attestation) === b.attestationSha256;
  if (!attestationOk) wrong.push('attestation');
  if (wrong.length === 0) {
    return {
      check: {
        name: 'verifier.binding',
        status: 'pass',
        detail: `the receipt${u.attestation === undefined ? ' and' : ','} agent key${u.attestation === undefined ? '' : ' and attestation'} are those the signed result names`,
      },
      attestationOk,
    };
  }
  return {
    check: {
      name: 'verifier.binding',
      status: 'fail',
      code: 'RESULT_BINDING_MISMATCH',
      detail: `${wrong.join(', ')} in the verifier's answer ${wrong.length === 1 ? 'is' : 'are'} not what its signed result names: changed on the way`,
    },
    attestationOk,
  };
}

/** Hex SHA-256 of core canonicalBytes(attestation), null when absent or not canonical JSON. */
export function attestationDigest(a: AnswerAttestation | undefined): string | null {
  if (a === undefined) return null;
  try {
    return toHex(sha256(canonicalBytes(a as unknown as CanonicalValue)));
  } catch {
    // A float or other value canonical JSON does not carry: matches no signed digest.
    return 'not canonical';
  }
}

/** The raw key of a bound base64url agent key, or undefined when it does not decode. */
export function boundKey(agentKey: string | null): Uint8Array | undefined {
  if (agentKey === null) return undefined;
  try {
    return fromBase64Url(agentKey);
  } catch {
    return undefined;
  }
}

function isCheck(x: unknown): x is Check {
  const c = x as Check;
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof c.name === 'string' &&
    STATUSES.includes(c.status) &&
    typeof c.detail === 'string'
  );
}

function isEnrolment(x: unknown): boolean {
  const e = x as Record<string, unknown>;
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof e.agent === 'string' &&
    typeof e.keyId === 'string' &&
    Number.isSafeInteger(e.enrolledAt)
  );
}

function isAk(x: unknown): boolean {
  const a = x as Record<string, unknown>;
  return (
    typeof a === 'object' &&
    a !== null &&
    typeof a.name === 'string' &&
    Number.isSafeInteger(a.activatedAt) &&
    typeof a.ekPublicSha256 === 'string'
  );
}
