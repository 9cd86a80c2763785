import { bytesEqual, toHex } from '../bytes/encoding.ts';
import { sha256 } from '../crypto/hash.ts';
import { CoreError, type CoreErrorCode, ParseError } from '../errors.ts';
import type { Check } from '../verdict/types.ts';
import type { BootFacts } from './facts.ts';
import { bootFacts, KEY_DATABASES } from './facts.ts';
import { parseEventLog } from './parse.ts';
import type { BootPolicy, BootPolicyJson } from './policy.ts';
import { isCompiledPolicy, parseBootPolicy } from './policy.ts';
import { replayEventLog } from './replay.ts';

/** What appraising a boot log found: the `host.boot` check and the facts the verdict names. */
export interface BootAppraisal {
  check: Check;
  /** The logged SecureBoot variable (1 = enabled); null when no log parsed or it has none. */
  secureBoot: boolean | null;
  /** The log's S-CRTM version is the simulated firmware's marker (demo/src/firmware). */
  simulated: boolean;
  /** TCG_PCR_EVENT2 entries in the log (0 when it did not parse). */
  events: number;
}

/**
 * SHA-256 over the quoted sha256 PCRs 0..9 in order: what a TPM 2.0 kernel (>= 5.8) logs as
 * IMA's `boot_aggregate` (security/integrity/ima/ima_crypto.c reads PCRs 0-9 of the sha256 bank).
 *
 * @throws CoreError BOOT_PCR_NOT_QUOTED when a PCR 0-9 is missing or not 32 bytes
 */
export function bootAggregate(pcrs: ReadonlyMap<number, Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i <= 9; i++) {
    const v = pcrs.get(i);
    if (v === undefined || v.length !== 32)
      throw new CoreError(
        'BOOT_PCR_NOT_QUOTED',
        `boot_aggregate needs sha256 PCR ${i}, the quote has ${v === undefined ? 'none' : `${v.length} bytes`}`,
      );
    parts.push(v);
  }
  return sha256(...parts);
}

/**
 * Appraises a TCG2 event log against quoted sha256 PCR values 0..9 and an optional reference
 * policy. `host.boot` passes when the log parses, its sha256 bank replays to every quoted PCR 0-9,
 * the events a policy reads hash to their digests, and the policy (if any) holds. Otherwise it
 * fails naming the first broken rule: BOOT_LOG_ABSENT, BOOT_LOG_MALFORMED (with the parse code and
 * byte offset), BOOT_PCR_NOT_QUOTED, BOOT_PCR_MISMATCH (naming the PCR), BOOT_EVENT_DIGEST_MISMATCH,
 * BOOT_SECURE_BOOT_DISABLED, BOOT_POLICY_*. The detail names the Secure Boot state and "simulated
 * firmware" when the log carries the marker. Never throws for bad evidence.
 *
 * `policy` is best parsed once with `parseBootPolicy` (so a bad policy is found when it is
 * loaded); the JSON form is accepted too, and a bad one fails the check as BOOT_POLICY_INVALID.
 */
export function appraiseBootLog(o: {
  log: Uint8Array | null;
  pcrs: ReadonlyMap<number, Uint8Array>;
  policy: BootPolicy | BootPolicyJson | null;
}): BootAppraisal {
  const out = (
    code: CoreErrorCode | null,
    detail: string,
    facts: BootFacts | null,
    events: number,
  ): BootAppraisal => {
    const check: Check =
      code === null
        ? { name: 'host.boot', status: 'pass', detail }
        : { name: 'host.boot', status: 'fail', code, detail };
    return { check, secureBoot: facts?.secureBoot ?? null, simulated: facts?.simulated ?? false, events };
  };
  if (o.log === null)
    return out('BOOT_LOG_ABSENT', 'no UEFI event log of this boot reached the verifier', null, 0);
  let policy: BootPolicy | null;
  try {
    policy = o.policy === null || isCompiledPolicy(o.policy) ? o.policy : parseBootPolicy(o.policy);
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    return out('BOOT_POLICY_INVALID', err.message, null, 0);
  }

  let facts: BootFacts;
  let log: ReturnType<typeof parseEventLog>;
  try {
    log = parseEventLog(o.log);
    facts = bootFacts(log);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return out(
      'BOOT_LOG_MALFORMED',
      `the boot event log does not parse: ${err.code} ${err.message}`,
      null,
      0,
    );
  }
  const n = log.events.length;
  const state = describe(facts);
  const bank = replayEventLog(log, ['sha256']).get('sha256');
  if (bank === undefined)
    return out('BOOT_LOG_MALFORMED', `the boot event log has no sha256 bank (${state})`, facts, n);
  for (let i = 0; i <= 9; i++) {
    const quoted = o.pcrs.get(i);
    if (quoted === undefined || quoted.length !== 32)
      return out(
        'BOOT_PCR_NOT_QUOTED',
        `the quote has no sha256 PCR ${i} to replay the boot log against`,
        facts,
        n,
      );
    if (!bytesEqual(quoted, bank.get(i)!))
      return out(
        'BOOT_PCR_MISMATCH',
        `sha256 PCR ${i}: the boot log replays to ${toHex(bank.get(i)!)}, the quote has ${toHex(quoted)} (${state})`,
        facts,
        n,
      );
  }
  if (facts.digestMismatch !== null)
    return out('BOOT_EVENT_DIGEST_MISMATCH', `${facts.digestMismatch.detail} (${state})`, facts, n);
  if (policy !== null) {
    const broken = checkPolicy(policy, facts);
    if (broken !== null) return out(broken.code, `${broken.detail} (${state})`, facts, n);
  }
  const held = policy === null ? 'no measured-boot policy' : 'the measured-boot policy holds';
  return out(null, `${n} boot events replay to the quoted sha256 PCRs 0-9; ${held}; ${state}`, facts, n);
}

function describe(f: BootFacts): string {
  const sb =
    f.secureBoot === null ? 'Secure Boot not logged' : `Secure Boot ${f.secureBoot ? 'enabled' : 'disabled'}`;
  return f.simulated ? `${sb}, simulated firmware` : sb;
}

/** The first rule of the policy the facts break, or null. */
function checkPolicy(p: BootPolicy, f: BootFacts): { code: CoreErrorCode; detail: string } | null {
  if (p.secureBoot && f.secureBoot !== true)
    return {
      code: 'BOOT_SECURE_BOOT_DISABLED',
      detail: 'the policy requires Secure Boot, the log shows it is not enabled',
    };
  for (const db of KEY_DATABASES) {
    const allowed = p.keys[db];
    if (allowed === undefined) continue;
    const logged = f.keys[db];
    if (logged === undefined)
      return db === 'dbx'
        ? {
            code: 'BOOT_POLICY_DBX_INCOMPLETE',
            detail: 'the policy requires dbx entries, the log has no dbx',
          }
        : {
            code: 'BOOT_POLICY_VARIABLE_NOT_ALLOWED',
            detail: `the policy names ${db}, the log has no ${db}`,
          };
    if (db === 'dbx') {
      const have = new Set(logged);
      const missing = [...allowed].filter((x) => !have.has(x));
      if (missing.length > 0)
        return {
          code: 'BOOT_POLICY_DBX_INCOMPLETE',
          detail: `dbx lacks ${missing.length} required entries, first ${missing[0]}`,
        };
    } else {
      const extra = logged.find((x) => !allowed.has(x));
      if (extra !== undefined)
        return {
          code: 'BOOT_POLICY_VARIABLE_NOT_ALLOWED',
          detail: `${db} holds ${extra}, which the policy does not allow`,
        };
    }
  }
  const app = p.bootApplications && f.applications.find((a) => !p.bootApplications!.has(a));
  if (app)
    return {
      code: 'BOOT_POLICY_APPLICATION_NOT_ALLOWED',
      detail: `boot application ${app} is not in the policy`,
    };
  const file = p.bootFiles && f.files.find((x) => !p.bootFiles!.has(x.digest));
  if (file)
    return {
      code: 'BOOT_POLICY_FILE_NOT_ALLOWED',
      detail: `${JSON.stringify(file.path)} (${file.digest}) is not in the policy`,
    };
  if (p.kernelCmdline !== null) {
    if (f.cmdlines.length === 0)
      return {
        code: 'BOOT_POLICY_CMDLINE_NOT_ALLOWED',
        detail: 'the policy names kernel command lines, the log has none',
      };
    const line = f.cmdlines.find((c) => !p.kernelCmdline!.some((re) => re.test(c)));
    if (line !== undefined)
      return {
        code: 'BOOT_POLICY_CMDLINE_NOT_ALLOWED',
        detail: `kernel command line ${JSON.stringify(line)} matches no policy expression`,
      };
  }
  return null;
}
