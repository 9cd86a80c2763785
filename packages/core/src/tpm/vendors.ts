// TPM manufacturer ids (TPM_PT_MANUFACTURER, the EK certificate's 2.23.133.2.1 attribute as
// "id:XXXXXXXX") are four ASCII bytes, NUL- or space-padded, assigned in the TCG's TPM Vendor ID
// Registry. This table names the ones a verifier is likely to meet; others are shown as the id.

const BY_CODE: Readonly<Record<string, string>> = {
  AMD: 'AMD',
  ATML: 'Atmel',
  BRCM: 'Broadcom',
  CSCO: 'Cisco',
  FLYS: 'Flyslice Technologies',
  GOOG: 'Google',
  HISI: 'Huawei',
  HPE: 'HPE',
  IBM: 'IBM',
  IFX: 'Infineon',
  INTC: 'Intel',
  LEN: 'Lenovo',
  MSFT: 'Microsoft',
  NSM: 'National Semiconductor',
  NTC: 'Nuvoton Technology',
  NTZ: 'Nationz',
  QCOM: 'Qualcomm',
  ROCC: 'Fuzhou Rockchip',
  SMSC: 'SMSC',
  SMSN: 'Samsung',
  SNS: 'Sinosun',
  STM: 'STMicroelectronics',
  TXN: 'Texas Instruments',
  WEC: 'Winbond',
};

/**
 * The vendor named by a manufacturer attribute value (`id:49465800` -> `Infineon`), or null when
 * the value is not of the form `id:` and 8 hex digits or names no vendor in the table.
 * swtpm's default, `id:00001014` (IBM's PCI vendor id, not a TCG code), is named `IBM (swtpm)`.
 */
export function manufacturerName(value: string): string | null {
  const m = /^id:([0-9A-Fa-f]{8})$/.exec(value);
  if (m === null) return null;
  const hex = m[1]!.toUpperCase();
  if (hex === '00001014') return 'IBM (swtpm)';
  let code = '';
  for (let i = 0; i < 8; i += 2) code += String.fromCharCode(Number.parseInt(hex.slice(i, i + 2), 16));
  return BY_CODE[code.replace(/[\0 ]+$/, '')] ?? null;
}
