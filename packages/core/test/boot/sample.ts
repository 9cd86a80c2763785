import { concat, sha256, toHex, utf8 } from '@tmb/core';
import {
  BootAlg,
  EFI_CERT_SHA256,
  EFI_CERT_X509,
  EFI_GLOBAL_VARIABLE,
  EFI_IMAGE_SECURITY_DATABASE,
  type EventInput,
  EventType,
  measuredEvent,
  noActionEvent,
  SIMULATED_FIRMWARE_MARKER,
  specIdFor,
  writeEventLog,
} from '@tmb/core/boot';

// A small, fully known boot for the appraisal tests: built with the writer, its quoted PCRs
// folded here from the digests (not by the replay under test).

const le64 = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
const le32 = (n: number) => le64(n).subarray(0, 4);
const utf16 = (s: string) => new Uint8Array([...s].flatMap((c) => [c.charCodeAt(0), 0]));

export function guidBytes(s: string): Uint8Array {
  const be = Uint8Array.from(s.replaceAll('-', '').match(/../g)!, (x) => Number.parseInt(x, 16));
  return Uint8Array.of(be[3]!, be[2]!, be[1]!, be[0]!, be[5]!, be[4]!, be[7]!, be[6]!, ...be.subarray(8));
}
export function variable(owner: string, name: string, data: Uint8Array): Uint8Array {
  return concat(guidBytes(owner), le64(name.length), le64(data.length), utf16(name), data);
}
export function signatureList(type: string, ...entries: Uint8Array[]): Uint8Array {
  const size = 16 + entries[0]!.length;
  return concat(
    guidBytes(type),
    le32(28 + size * entries.length),
    le32(0),
    le32(size),
    ...entries.flatMap((e) => [new Uint8Array(16), e]),
  );
}

export const EFI_GLOBAL_VARIABLE_NAME = EFI_GLOBAL_VARIABLE;
// `other` has db's length, so a db of both is one signature list.
export const CERT = {
  pk: utf8('pk cert'),
  kek: utf8('kek cert'),
  db: utf8('db cert'),
  other: utf8('xx cert'),
};
export const REVOKED = sha256(utf8('revoked image'));
export const LOADER = utf8('boot loader image');
export const KERNEL = utf8('kernel image');
export const CMDLINE = '/vmlinuz root=/dev/sda1 ro quiet';
export const x509Id = (b: Uint8Array) => `x509-sha256:${toHex(sha256(b))}`;
export const sha256Id = (b: Uint8Array) => `sha256:${toHex(sha256(b))}`;

export interface SampleOptions {
  secureBoot?: number | null;
  db?: Uint8Array[];
  locality?: number;
  simulated?: boolean;
  cmdline?: string | null;
  /** Replace the event at this index (after building). */
  edit?: (events: EventInput[]) => void;
}

const spec = specIdFor([BootAlg.SHA256]);
const m = (pcr: number, type: number, data: Uint8Array, content?: Uint8Array) =>
  measuredEvent(spec, pcr, type, data, content);

export function sampleEvents(o: SampleOptions = {}): EventInput[] {
  const ev: EventInput[] = [];
  if (o.locality !== undefined)
    ev.push(noActionEvent(spec, 0, concat(utf8('StartupLocality\0'), Uint8Array.of(o.locality))));
  ev.push(
    m(
      0,
      EventType.EV_S_CRTM_VERSION,
      concat(utf16(o.simulated ? SIMULATED_FIRMWARE_MARKER : 'Vendor 1.0'), new Uint8Array(2)),
    ),
  );
  if (o.secureBoot !== null)
    ev.push(
      m(
        7,
        EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
        variable(EFI_GLOBAL_VARIABLE, 'SecureBoot', Uint8Array.of(o.secureBoot ?? 1)),
      ),
    );
  ev.push(
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_GLOBAL_VARIABLE, 'PK', signatureList(EFI_CERT_X509, CERT.pk)),
    ),
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_GLOBAL_VARIABLE, 'KEK', signatureList(EFI_CERT_X509, CERT.kek)),
    ),
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_IMAGE_SECURITY_DATABASE, 'db', signatureList(EFI_CERT_X509, ...(o.db ?? [CERT.db]))),
    ),
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_IMAGE_SECURITY_DATABASE, 'dbx', signatureList(EFI_CERT_SHA256, REVOKED)),
    ),
  );
  for (let pcr = 0; pcr <= 7; pcr++) ev.push(m(pcr, EventType.EV_SEPARATOR, new Uint8Array(4)));
  ev.push(m(4, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, new Uint8Array(32), LOADER));
  ev.push(m(9, EventType.EV_IPL, utf8('/vmlinuz\0'), KERNEL));
  const cmdline = o.cmdline === undefined ? CMDLINE : o.cmdline;
  if (cmdline !== null) ev.push(m(8, EventType.EV_IPL, utf8(`kernel_cmdline: ${cmdline}\0`), utf8(cmdline)));
  o.edit?.(ev);
  return ev;
}

/** The log bytes and the sha256 PCRs 0-9 a TPM would quote after this boot. */
export function sampleBoot(o: SampleOptions = {}): { log: Uint8Array; pcrs: Map<number, Uint8Array> } {
  const events = sampleEvents(o);
  const pcrs = new Map<number, Uint8Array>();
  for (let i = 0; i <= 9; i++) pcrs.set(i, new Uint8Array(32));
  if (o.locality !== undefined) pcrs.get(0)![31] = o.locality;
  for (const e of events)
    if (e.type !== EventType.EV_NO_ACTION) pcrs.set(e.pcr, sha256(pcrs.get(e.pcr)!, e.digests[0]!.digest));
  return { log: writeEventLog({ specId: spec, events }), pcrs };
}

/** A policy the default sample boot satisfies. */
export function samplePolicy(): Record<string, unknown> {
  return {
    version: 1,
    secureBoot: true,
    pk: [x509Id(CERT.pk)],
    kek: [x509Id(CERT.kek)],
    db: [x509Id(CERT.db)],
    dbx: [`sha256:${toHex(REVOKED)}`],
    bootApplications: [sha256Id(LOADER)],
    bootFiles: [sha256Id(KERNEL)],
    kernelCmdline: ['/vmlinuz root=\\S+ ro( quiet)?'],
  };
}
