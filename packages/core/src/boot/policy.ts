import { CoreError } from '../errors.ts';
import type { KeyDatabase } from './facts.ts';

/**
 * A measured-boot reference policy, version 1 (docs/boot.md): a small subset of what Keylime's
 * measured-boot policy checks. Every member but `version` may be left out, and then that fact is
 * not checked. Change rule: a new optional member keeps version 1; a member whose meaning changes,
 * or a new required one, bumps the version.
 */
export interface BootPolicyJson {
  version: 1;
  /** true: the SecureBoot variable must be logged as 1. */
  secureBoot?: boolean;
  /** Allowed entries of PK, KEK and db: every entry logged must be listed (ids: docs/boot.md). */
  pk?: string[];
  kek?: string[];
  db?: string[];
  /** Required dbx entries: each must be in the logged dbx (revocations may only grow). */
  dbx?: string[];
  /** Allowed `sha256:<hex>` of each EV_EFI_BOOT_SERVICES_APPLICATION (shim, boot loader, UKI/kernel). */
  bootApplications?: string[];
  /** Allowed `sha256:<hex>` of each file the boot loader measured into PCR 9 (kernel, initrd, grub.cfg). */
  bootFiles?: string[];
  /** Regular expressions; every kernel command line must match one whole (at least one must be logged). */
  kernelCmdline?: string[];
  /** Free text for people. */
  description?: string;
}

/** A parsed policy: the sets and expressions the appraisal looks up. */
export interface BootPolicy {
  version: 1;
  secureBoot: boolean;
  keys: Partial<Record<KeyDatabase, ReadonlySet<string>>>;
  bootApplications: ReadonlySet<string> | null;
  bootFiles: ReadonlySet<string> | null;
  kernelCmdline: RegExp[] | null;
}

const MEMBERS = new Set([
  'version',
  'secureBoot',
  'pk',
  'kek',
  'db',
  'dbx',
  'bootApplications',
  'bootFiles',
  'kernelCmdline',
  'description',
]);
const MAX_LIST = 100_000;
const SHA256_ID = /^sha256:[0-9a-f]{64}$/;
const KEY_ID =
  /^(sha256|x509-sha256|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-sha256):[0-9a-f]{64}$/;

/** Policies this module compiled: anything else given to the appraisal is parsed first. */
const COMPILED = new WeakSet<object>();

/** Whether `p` came from parseBootPolicy (and not, say, JSON shaped like its result). */
export function isCompiledPolicy(p: object): p is BootPolicy {
  return COMPILED.has(p);
}

function bad(member: string, detail: string): never {
  throw new CoreError('BOOT_POLICY_INVALID', `boot policy ${member}: ${detail}`);
}

function strings(v: unknown, member: string, pattern: RegExp | null): string[] {
  if (!Array.isArray(v)) bad(member, 'expected an array of strings');
  if (v.length > MAX_LIST) bad(member, `${v.length} entries over the cap of ${MAX_LIST}`);
  return v.map((s, i) => {
    if (typeof s !== 'string' || s.length > 4096) bad(`${member}[${i}]`, 'expected a string');
    if (pattern !== null && !pattern.test(s))
      bad(`${member}[${i}]`, `${JSON.stringify(s)} is not ${pattern.source}`);
    return s;
  });
}

/**
 * Reads a measured-boot policy (JSON text or a parsed value), checking every member.
 * Digests are lower-case hex; regular expressions must compile and are anchored at both ends.
 *
 * @throws CoreError BOOT_POLICY_INVALID naming the member that is wrong
 * @example parseBootPolicy('{"version":1,"secureBoot":true,"kernelCmdline":["\\\\S+ root=\\\\S+ ro( quiet)?"]}')
 */
export function parseBootPolicy(input: string | unknown): BootPolicy {
  let v: unknown = input;
  if (typeof input === 'string') {
    try {
      v = JSON.parse(input);
    } catch (cause) {
      throw new CoreError('BOOT_POLICY_INVALID', 'boot policy is not JSON', { cause });
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('(top)', 'expected an object');
  const p = v as Record<string, unknown>;
  for (const k of Object.keys(p)) if (!MEMBERS.has(k)) bad(k, 'unknown member');
  if (p.version !== 1) bad('version', `expected 1, found ${JSON.stringify(p.version)}`);
  if (p.secureBoot !== undefined && typeof p.secureBoot !== 'boolean')
    bad('secureBoot', 'expected a boolean');
  if (p.description !== undefined && typeof p.description !== 'string')
    bad('description', 'expected a string');
  const keys: BootPolicy['keys'] = {};
  for (const [member, db] of [
    ['pk', 'PK'],
    ['kek', 'KEK'],
    ['db', 'db'],
    ['dbx', 'dbx'],
  ] as const)
    if (p[member] !== undefined) keys[db] = new Set(strings(p[member], member, KEY_ID));
  const set = (member: string) =>
    p[member] === undefined ? null : new Set(strings(p[member], member, SHA256_ID));
  let kernelCmdline: RegExp[] | null = null;
  if (p.kernelCmdline !== undefined)
    kernelCmdline = strings(p.kernelCmdline, 'kernelCmdline', null).map((re, i) => {
      try {
        return new RegExp(`^(?:${re})$`);
      } catch (cause) {
        return bad(`kernelCmdline[${i}]`, `not a regular expression: ${(cause as Error).message}`);
      }
    });
  const policy: BootPolicy = {
    version: 1,
    secureBoot: p.secureBoot === true,
    keys,
    bootApplications: set('bootApplications'),
    bootFiles: set('bootFiles'),
    kernelCmdline,
  };
  COMPILED.add(policy);
  return policy;
}
