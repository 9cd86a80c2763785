import { concat, sha256, toHex, utf8 } from '@tmb/core';
import type { BootPolicyJson, EventInput, SpecId } from '@tmb/core/boot';
import {
  BootAlg,
  EFI_CERT_SHA256,
  EFI_CERT_X509,
  EFI_GLOBAL_VARIABLE,
  EFI_IMAGE_SECURITY_DATABASE,
  EventType,
  measuredEvent,
  noActionEvent,
  SIMULATED_FIRMWARE_MARKER,
  specIdFor,
  writeEventLog,
} from '@tmb/core/boot';

// SIMULATED UEFI FIRMWARE, DEVELOPMENT ONLY. It plays the firmware and boot loader of a host
// without a hardware TPM: it extends swtpm PCRs 0-9 and writes the TCG2 event log a real
// machine's firmware would leave in /sys/kernel/security/tpm0/binary_bios_measurements. Its
// S-CRTM version is "TMB SIMULATED FIRMWARE", so every verdict over it says "simulated firmware".
// The keys, boot loader and kernel below are stand-in bytes, not real certificates or images.

/** Stand-in images and keys the simulated firmware "loads" and "enrols": plain labelled bytes. */
export const SIMULATED_BOOT = {
  firmwareVolume: utf8('TMB SIMULATED FIRMWARE VOLUME (not a real firmware image)'),
  platformKey: utf8('TMB SIMULATED PLATFORM KEY (not a real X.509 certificate)'),
  keyExchangeKey: utf8('TMB SIMULATED KEY EXCHANGE KEY (not a real X.509 certificate)'),
  dbCertificate: utf8('TMB SIMULATED DB CERTIFICATE (not a real X.509 certificate)'),
  revokedImage: utf8('TMB SIMULATED REVOKED BOOT LOADER (a dbx entry)'),
  bootLoader: utf8('TMB SIMULATED BOOT LOADER (stands in for shim/grub; not a PE image)'),
  kernel: utf8('TMB SIMULATED KERNEL (stands in for vmlinuz; not a PE image)'),
  initrd: utf8('TMB SIMULATED INITRD (stands in for an initramfs)'),
  kernelPath: '/boot/vmlinuz-tmb-simulated',
  initrdPath: '/boot/initrd-tmb-simulated.img',
  cmdline: '/boot/vmlinuz-tmb-simulated root=/dev/tmb-simulated ro ima_policy=tcb ima_template=ima-ng',
} as const;

const le64 = (n: number) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
};
const le32 = (n: number) => le64(n).subarray(0, 4);
const le16 = (n: number) => le64(n).subarray(0, 2);
const utf16z = (s: string) => {
  const out = new Uint8Array((s.length + 1) * 2);
  for (let i = 0; i < s.length; i++) out.set(le16(s.charCodeAt(i)), i * 2);
  return out;
};

/** EFI_GUID bytes from its registry form (Data1-3 little-endian). */
function guid(s: string): Uint8Array {
  const h = s.replaceAll('-', '');
  const be = Uint8Array.from(h.match(/../g)!, (x) => Number.parseInt(x, 16));
  return Uint8Array.of(be[3]!, be[2]!, be[1]!, be[0]!, be[5]!, be[4]!, be[7]!, be[6]!, ...be.subarray(8));
}

/** UEFI_VARIABLE_DATA (PFP 10.4.4.1): GUID, name length (chars), data length, UTF-16 name, data. */
function variable(owner: string, name: string, data: Uint8Array): Uint8Array {
  const n = utf16z(name).subarray(0, name.length * 2);
  return concat(guid(owner), le64(name.length), le64(data.length), n, data);
}

/** One EFI_SIGNATURE_LIST of one entry (UEFI 2.10, 32.4.1), owned by a made-up GUID. */
function signatureList(type: string, data: Uint8Array): Uint8Array {
  const sigSize = 16 + data.length;
  return concat(
    guid(type),
    le32(28 + sigSize),
    le32(0),
    le32(sigSize),
    guid('7e4d5c3b-0000-4000-8000-746d62736966'),
    data,
  );
}

/** UEFI_IMAGE_LOAD_EVENT (PFP 10.4.3) with a media file-path device path naming the image. */
function imageLoad(path: string, length: number): Uint8Array {
  const name = utf16z(path.replaceAll('/', '\\'));
  const node = concat(Uint8Array.of(0x04, 0x04), le16(4 + name.length), name);
  const end = Uint8Array.of(0x7f, 0xff, 0x04, 0x00);
  return concat(le64(0x7e000000), le64(length), le64(0), le64(node.length + end.length), node, end);
}

/** The events, in the order a UEFI PC boots (PFP 3.3.4: what goes in which PCR). */
function events(spec: SpecId): EventInput[] {
  const B = SIMULATED_BOOT;
  const m = (pcr: number, type: number, data: Uint8Array, content?: Uint8Array) =>
    measuredEvent(spec, pcr, type, data, content);
  const text = (s: string) => utf8(`${s}\0`);
  const separator = (pcr: number) => m(pcr, EventType.EV_SEPARATOR, new Uint8Array(4));
  return [
    noActionEvent(spec, 0, concat(utf8('StartupLocality\0'), Uint8Array.of(0))),
    m(0, EventType.EV_S_CRTM_VERSION, utf16z(SIMULATED_FIRMWARE_MARKER)),
    m(
      0,
      EventType.EV_EFI_PLATFORM_FIRMWARE_BLOB,
      concat(le64(0xffc00000), le64(B.firmwareVolume.length)),
      B.firmwareVolume,
    ),
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_GLOBAL_VARIABLE, 'SecureBoot', Uint8Array.of(1)),
    ),
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_GLOBAL_VARIABLE, 'PK', signatureList(EFI_CERT_X509, B.platformKey)),
    ),
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_GLOBAL_VARIABLE, 'KEK', signatureList(EFI_CERT_X509, B.keyExchangeKey)),
    ),
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_IMAGE_SECURITY_DATABASE, 'db', signatureList(EFI_CERT_X509, B.dbCertificate)),
    ),
    m(
      7,
      EventType.EV_EFI_VARIABLE_DRIVER_CONFIG,
      variable(EFI_IMAGE_SECURITY_DATABASE, 'dbx', signatureList(EFI_CERT_SHA256, sha256(B.revokedImage))),
    ),
    separator(7),
    m(1, EventType.EV_EFI_VARIABLE_BOOT, variable(EFI_GLOBAL_VARIABLE, 'BootOrder', le16(0))),
    m(4, EventType.EV_EFI_ACTION, utf8('Calling EFI Application from Boot Option')),
    ...[0, 1, 2, 3, 4, 5, 6].map(separator),
    m(
      4,
      EventType.EV_EFI_BOOT_SERVICES_APPLICATION,
      imageLoad('/EFI/tmb/bootx64-simulated.efi', B.bootLoader.length),
      B.bootLoader,
    ),
    m(9, EventType.EV_IPL, text(B.kernelPath), B.kernel),
    m(9, EventType.EV_IPL, text(B.initrdPath), B.initrd),
    m(8, EventType.EV_IPL, text(`grub_cmd: linux ${B.cmdline}`), utf8(`linux ${B.cmdline}`)),
    m(8, EventType.EV_IPL, text(`kernel_cmdline: ${B.cmdline}`), utf8(B.cmdline)),
    m(8, EventType.EV_IPL, text(`grub_cmd: initrd ${B.initrdPath}`), utf8(`initrd ${B.initrdPath}`)),
    m(4, EventType.EV_EFI_BOOT_SERVICES_APPLICATION, imageLoad(B.kernelPath, B.kernel.length), B.kernel),
    m(5, EventType.EV_EFI_ACTION, utf8('Exit Boot Services Invocation')),
    m(5, EventType.EV_EFI_ACTION, utf8('Exit Boot Services Returned with Success')),
  ];
}

/**
 * Boots the simulated firmware: calls `extend(pcr, sha256)` for every extended event, in log
 * order (await each before the next, as firmware does), and returns the TCG2 crypto-agile event
 * log (sha256 bank only) it leaves behind. Deterministic: every boot gives the same log and PCRs.
 */
export async function simulateFirmware(
  extend: (pcr: number, sha256: Uint8Array) => Promise<void>,
): Promise<Uint8Array> {
  const spec = specIdFor([BootAlg.SHA256]);
  const list = events(spec);
  for (const e of list) if (e.type !== EventType.EV_NO_ACTION) await extend(e.pcr, e.digests[0]!.digest);
  return writeEventLog({ specId: spec, events: list });
}

/**
 * The measured-boot policy (docs/boot.md) the simulated firmware's boot satisfies: Secure Boot on,
 * its stand-in keys, boot loader, kernel, initrd and command line. For the demo's verifier.
 */
export function simulatedBootPolicy(): BootPolicyJson {
  const B = SIMULATED_BOOT;
  const h = (b: Uint8Array) => `sha256:${toHex(sha256(b))}`;
  const x509 = (b: Uint8Array) => `x509-${h(b)}`;
  return {
    version: 1,
    description:
      'DEVELOPMENT ONLY: the boot of demo/src/firmware (simulated firmware, stand-in keys and images)',
    secureBoot: true,
    pk: [x509(B.platformKey)],
    kek: [x509(B.keyExchangeKey)],
    db: [x509(B.dbCertificate)],
    dbx: [`sha256:${toHex(sha256(B.revokedImage))}`],
    bootApplications: [h(B.bootLoader), h(B.kernel)],
    bootFiles: [h(B.kernel), h(B.initrd)],
    kernelCmdline: [B.cmdline.replaceAll('.', '\\.')],
  };
}
