import { bytesEqual, toHex } from '../bytes/encoding.ts';
import { sha256 } from '../crypto/hash.ts';
import type { BootEvent, EventLog } from './types.ts';
import { BootAlg, EventType, eventTypeName } from './types.ts';
import {
  decodeVariable,
  EFI_GLOBAL_VARIABLE,
  EFI_IMAGE_SECURITY_DATABASE,
  signatureEntries,
  utf16,
} from './variable.ts';

/** The EV_S_CRTM_VERSION text the simulated firmware logs (demo/src/firmware). */
export const SIMULATED_FIRMWARE_MARKER = 'TMB SIMULATED FIRMWARE';

/** The Secure Boot key databases a policy can name. */
export const KEY_DATABASES = ['PK', 'KEK', 'db', 'dbx'] as const;
export type KeyDatabase = (typeof KEY_DATABASES)[number];

/**
 * What a parsed boot log says, in the terms a measured-boot policy uses. Every fact here comes
 * from an event whose digest was checked against its data (see `bootFacts`), or is itself a
 * digest that replay binds to the quoted PCRs.
 */
export interface BootFacts {
  /** The SecureBoot variable's first data byte is 1; null when PCR 7 has no SecureBoot event before its separator. */
  secureBoot: boolean | null;
  /** EV_S_CRTM_VERSION (UTF-16) text, or null. */
  crtmVersion: string | null;
  /** The S-CRTM version is the simulated firmware's marker. */
  simulated: boolean;
  /** Entries of PK, KEK, db and dbx as logged in PCR 7 before its separator (policy ids, see signatureEntries). */
  keys: Partial<Record<KeyDatabase, string[]>>;
  /** `sha256:<hex>` of each EV_EFI_BOOT_SERVICES_APPLICATION in PCR 4 (Authenticode hashes). */
  applications: string[];
  /** Files the boot loader measured into PCR 9 (EV_IPL): path and `sha256:<hex>`. */
  files: { path: string; digest: string }[];
  /** Kernel command lines (grub's `kernel_cmdline: ` EV_IPL strings in PCR 8, prefix removed). */
  cmdlines: string[];
  /** The first event whose data does not hash to its digest where the spec says it must. */
  digestMismatch: { index: number; offset: number; detail: string } | null;
}

/**
 * Event types whose digest is the hash of the event data (PFP 10.4.1 Table 9; checked against
 * every real log in test/vectors/boot). The data of these is what a policy reads, so a root
 * process that edits the data while keeping the digest (replay still matches) is caught here.
 */
const DIGEST_OF_DATA: ReadonlySet<number> = new Set([
  EventType.EV_SEPARATOR,
  EventType.EV_S_CRTM_VERSION,
  EventType.EV_EFI_ACTION,
  EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
]);

/** grub's PCR 8 strings: the digest covers the text after the prefix, without the NUL (grub 2.06). */
const GRUB_PREFIXES = ['kernel_cmdline: ', 'grub_cmd: ', 'grub_kernel_cmdline: '];

function latin1(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return s.endsWith('\0') ? s.slice(0, -1) : s;
}

function sha256Of(e: BootEvent): string {
  return `sha256:${toHex(e.digests.find((d) => d.alg === BootAlg.SHA256)?.digest ?? new Uint8Array())}`;
}

/**
 * Whether the sha256 digest of `e` is the hash of `content`. Only the sha256 bank is checked: it
 * is the bank the quote selects and replay binds; the other banks are bound to nothing.
 */
function digestsCover(e: BootEvent, content: Uint8Array): boolean {
  const d = e.digests.find((x) => x.alg === BootAlg.SHA256);
  return d === undefined || bytesEqual(sha256(content), d.digest);
}

/**
 * Decodes the events a policy reads and checks their digests against their data.
 *
 * @throws ParseError BOOT_EVENT_MALFORMED when a UEFI variable or signature list is malformed
 */
export function bootFacts(log: EventLog): BootFacts {
  const f: BootFacts = {
    secureBoot: null,
    crtmVersion: null,
    simulated: false,
    keys: {},
    applications: [],
    files: [],
    cmdlines: [],
    digestMismatch: null,
  };
  const mismatch = (index: number, e: BootEvent, what: string) => {
    f.digestMismatch ??= {
      index,
      offset: e.offset,
      detail: `event ${index} (${eventTypeName(e.type)}, PCR ${e.pcr}, byte ${e.offset}): ${what}`,
    };
  };
  // Secure Boot configuration counts only before PCR 7's separator (PFP 3.3.4.8: the firmware
  // measures it there, then the separator). Root can extend PCR 7 after boot, so an event after
  // it (a second "SecureBoot = 1", a dbx that grew) replays fine and must not count.
  let pcr7Sealed = false;
  log.events.forEach((e, index) => {
    if (DIGEST_OF_DATA.has(e.type) && !digestsCover(e, e.data))
      mismatch(index, e, 'data does not hash to the digest');
    if (e.pcr === 7 && e.type === EventType.EV_SEPARATOR) pcr7Sealed = true;
    switch (e.type) {
      case EventType.EV_S_CRTM_VERSION:
        f.crtmVersion = utf16(e.data);
        f.simulated = f.crtmVersion === SIMULATED_FIRMWARE_MARKER;
        break;
      case EventType.EV_EFI_VARIABLE_DRIVER_CONFIG: {
        if (e.pcr !== 7 || pcr7Sealed) break;
        const v = decodeVariable(e);
        // The first measurement of each variable is the one the firmware booted with.
        if (v.guid === EFI_GLOBAL_VARIABLE && v.name === 'SecureBoot') f.secureBoot ??= v.data[0] === 1;
        const db = v.name as KeyDatabase;
        const owner = db === 'PK' || db === 'KEK' ? EFI_GLOBAL_VARIABLE : EFI_IMAGE_SECURITY_DATABASE;
        if ((KEY_DATABASES as readonly string[]).includes(v.name) && v.guid === owner)
          f.keys[db] ??= signatureEntries(e, v);
        break;
      }
      case EventType.EV_EFI_BOOT_SERVICES_APPLICATION:
        if (e.pcr === 4) f.applications.push(sha256Of(e));
        break;
      case EventType.EV_IPL: {
        const text = latin1(e.data);
        if (e.pcr === 9) f.files.push({ path: text, digest: sha256Of(e) });
        if (e.pcr !== 8) break;
        const prefix = GRUB_PREFIXES.find((p) => text.startsWith(p));
        if (prefix === undefined) break;
        // The digest covers the bytes after the prefix, without the trailing NUL.
        const end = e.data.length > 0 && e.data[e.data.length - 1] === 0 ? e.data.length - 1 : e.data.length;
        const rest = e.data.subarray(prefix.length, end);
        if (!digestsCover(e, rest)) mismatch(index, e, `"${prefix.trim()}" text does not hash to the digest`);
        else if (prefix === 'kernel_cmdline: ') f.cmdlines.push(new TextDecoder().decode(rest));
        break;
      }
    }
  });
  return f;
}
