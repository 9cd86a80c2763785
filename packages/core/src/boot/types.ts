/**
 * Types and constants of the TCG PC Client Platform Firmware Profile (PFP) event log, version
 * 1.05+, crypto-agile format ("Spec ID Event03"). Section numbers below are of that spec.
 */

/** Event types read by name here (PFP 10.4.1, Table 9). Any other u32 is kept as a number. */
export const EventType = {
  EV_PREBOOT_CERT: 0x0,
  EV_POST_CODE: 0x1,
  EV_NO_ACTION: 0x3,
  EV_SEPARATOR: 0x4,
  EV_ACTION: 0x5,
  EV_EVENT_TAG: 0x6,
  EV_S_CRTM_CONTENTS: 0x7,
  EV_S_CRTM_VERSION: 0x8,
  EV_CPU_MICROCODE: 0x9,
  EV_PLATFORM_CONFIG_FLAGS: 0xa,
  EV_TABLE_OF_DEVICES: 0xb,
  EV_COMPACT_HASH: 0xc,
  EV_IPL: 0xd,
  EV_IPL_PARTITION_DATA: 0xe,
  EV_NONHOST_CODE: 0xf,
  EV_NONHOST_CONFIG: 0x10,
  EV_NONHOST_INFO: 0x11,
  EV_OMIT_BOOT_DEVICE_EVENTS: 0x12,
  EV_EFI_VARIABLE_DRIVER_CONFIG: 0x80000001,
  EV_EFI_VARIABLE_BOOT: 0x80000002,
  EV_EFI_BOOT_SERVICES_APPLICATION: 0x80000003,
  EV_EFI_BOOT_SERVICES_DRIVER: 0x80000004,
  EV_EFI_RUNTIME_SERVICES_DRIVER: 0x80000005,
  EV_EFI_GPT_EVENT: 0x80000006,
  EV_EFI_ACTION: 0x80000007,
  EV_EFI_PLATFORM_FIRMWARE_BLOB: 0x80000008,
  EV_EFI_HANDOFF_TABLES: 0x80000009,
  EV_EFI_PLATFORM_FIRMWARE_BLOB2: 0x8000000a,
  EV_EFI_HANDOFF_TABLES2: 0x8000000b,
  EV_EFI_VARIABLE_BOOT2: 0x8000000c,
  EV_EFI_HCRTM_EVENT: 0x80000010,
  EV_EFI_VARIABLE_AUTHORITY: 0x800000e0,
  EV_EFI_SPDM_FIRMWARE_BLOB: 0x800000e1,
  EV_EFI_SPDM_FIRMWARE_CONFIG: 0x800000e2,
} as const;
export type EventTypeName = keyof typeof EventType;

/** TPM_ALG_ID of the digest banks this build replays (TPM 2.0 Part 2, 6.3). */
export const BootAlg = { SHA1: 0x0004, SHA256: 0x000b, SHA384: 0x000c, SHA512: 0x000d } as const;

/** One algorithm of the Spec ID header: its id and the digest size every event uses for it. */
export interface SpecIdAlgorithm {
  alg: number;
  size: number;
}

/** TCG_EfiSpecIDEventStruct (PFP 10.4.5.1): the header that makes a log crypto-agile. */
export interface SpecId {
  platformClass: number;
  specVersionMinor: number;
  specVersionMajor: number;
  specErrata: number;
  uintnSize: number;
  algorithms: SpecIdAlgorithm[];
  vendorInfo: Uint8Array;
}

/** One digest of a TCG_PCR_EVENT2 (TPMT_HA): the algorithm id and the digest bytes. */
export interface EventDigest {
  alg: number;
  digest: Uint8Array;
}

/**
 * One TCG_PCR_EVENT2 (PFP 10.2.2). `data` is a view into the parsed bytes (no copy), so a parsed
 * log holds no more memory than its input. `offset` is where the event starts in the log.
 */
export interface BootEvent {
  pcr: number;
  type: number;
  digests: EventDigest[];
  data: Uint8Array;
  /** Byte offset of the event in the log, and of its data. */
  offset: number;
  dataOffset: number;
}

/** A parsed crypto-agile event log: the Spec ID header, then the TCG_PCR_EVENT2 entries. */
export interface EventLog {
  specId: SpecId;
  events: BootEvent[];
}

/** The name of an event type for messages (`EV_IPL`), or its hex value when unknown. */
export function eventTypeName(type: number): string {
  for (const [name, v] of Object.entries(EventType)) if (v === type) return name;
  return `0x${type.toString(16).padStart(8, '0')}`;
}
