import { ParseError } from '../errors.ts';
import { elements, oidText, readOne, Tag, type Tlv } from './der.ts';

// TCG EK Credential Profile for TPM Family 2.0 (version 2.x), section 3.2: what an EK
// certificate's extensions must say. RFC 5280 4.2 for the extensions' syntax.

/** Object identifiers the EK profile reads. */
export const EkOid = {
  /** tcg-kp-EKCertificate: the extended key usage of an EK certificate (EK profile 3.2.16). */
  EK_CERTIFICATE: '2.23.133.8.1',
  /** tcg-at-tpmManufacturer, tpmModel, tpmVersion: the SAN directoryName attributes (3.2.9). */
  TPM_MANUFACTURER: '2.23.133.2.1',
  TPM_MODEL: '2.23.133.2.2',
  TPM_VERSION: '2.23.133.2.3',
  SUBJECT_ALT_NAME: '2.5.29.17',
  EXT_KEY_USAGE: '2.5.29.37',
  KEY_USAGE: '2.5.29.15',
  BASIC_CONSTRAINTS: '2.5.29.19',
} as const;

/** What an EK certificate's extensions say, as far as the EK profile cares. */
export interface EkProfile {
  /** Extended key usage OIDs, or null when the certificate has no EKU extension. */
  eku: string[] | null;
  /** The TPM attributes of the subjectAltName's directoryName, or null without a SAN extension. */
  san: { manufacturer: string | null; model: string | null; version: string | null } | null;
  /** The key usage bits the profile names, or null without a key usage extension. */
  keyUsage: { keyEncipherment: boolean; keyAgreement: boolean } | null;
  /** basicConstraints cA: an EK certificate must not be a CA. */
  ca: boolean;
}

/** Longest TPM attribute value read (model names are short: "ST33HTPHAHB4", "swtpm"). */
const MAX_ATTRIBUTE_BYTES = 128;

const bad = (field: string, offset: number, detail: string): never => {
  throw new ParseError('EK_CERT_DER_INVALID', 'EkCertificate', field, offset, detail);
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

function attributeText(v: Tlv, field: string): string {
  if (v.tag !== Tag.UTF8_STRING && v.tag !== Tag.PRINTABLE_STRING && v.tag !== Tag.IA5_STRING)
    bad(field, v.offset, `value of tag 0x${v.tag.toString(16)}, expected a string`);
  if (v.content.length > MAX_ATTRIBUTE_BYTES) bad(field, v.offset, `value over ${MAX_ATTRIBUTE_BYTES} bytes`);
  try {
    return utf8.decode(v.content);
  } catch {
    return bad(field, v.offset, 'value is not UTF-8');
  }
}

function readSan(value: Uint8Array): NonNullable<EkProfile['san']> {
  const out: NonNullable<EkProfile['san']> = { manufacturer: null, model: null, version: null };
  const keys: Record<string, keyof typeof out> = {
    [EkOid.TPM_MANUFACTURER]: 'manufacturer',
    [EkOid.TPM_MODEL]: 'model',
    [EkOid.TPM_VERSION]: 'version',
  };
  const names = readOne(value, Tag.SEQUENCE, 'subjectAltName');
  for (const gn of elements(names.content, 'subjectAltName')) {
    if (gn.tag !== Tag.DIRECTORY_NAME) continue; // other GeneralName forms carry no TPM attributes
    const name = readOne(gn.content, Tag.SEQUENCE, 'directoryName');
    // The profile puts the three attributes in one RDN (a SET) or in three; read both shapes.
    for (const rdn of elements(name.content, 'directoryName')) {
      if (rdn.tag !== Tag.SET) bad('directoryName', rdn.offset, 'RDN is not a SET');
      for (const atv of elements(rdn.content, 'directoryName.rdn')) {
        if (atv.tag !== Tag.SEQUENCE) bad('directoryName.rdn', atv.offset, 'attribute is not a SEQUENCE');
        const [type, v, ...rest] = elements(atv.content, 'directoryName.attribute');
        if (type?.tag !== Tag.OID || v === undefined || rest.length > 0)
          bad('directoryName.attribute', atv.offset, 'not {type OID, value}');
        const key = keys[oidText(type!.content, 'directoryName.attribute.type')];
        if (key === undefined) continue;
        if (out[key] !== null) bad('directoryName.attribute', atv.offset, `TPM ${key} given twice`);
        out[key] = attributeText(v!, `directoryName.${key}`);
      }
    }
  }
  return out;
}

function readKeyUsage(value: Uint8Array): NonNullable<EkProfile['keyUsage']> {
  const bits = readOne(value, Tag.BIT_STRING, 'keyUsage');
  const unused = bits.content[0];
  if (unused === undefined || unused > 7 || (bits.content.length === 1 && unused !== 0))
    bad('keyUsage', bits.offset, 'malformed BIT STRING');
  // RFC 5280 4.2.1.3: bit 0 (digitalSignature) is the first byte's most significant bit.
  const first = bits.content[1] ?? 0;
  return { keyEncipherment: (first & 0x20) !== 0, keyAgreement: (first & 0x08) !== 0 };
}

function readCa(value: Uint8Array): boolean {
  const seq = readOne(value, Tag.SEQUENCE, 'basicConstraints');
  const [first] = elements(seq.content, 'basicConstraints');
  if (first?.tag !== Tag.BOOLEAN) return false; // cA DEFAULT FALSE
  if (first.content.length !== 1) bad('basicConstraints.cA', first.offset, 'BOOLEAN of other than 1 byte');
  return first.content[0] !== 0;
}

/**
 * Reads the EK profile's extensions from a certificate's DER (attacker-controlled: call it on
 * the bytes node:crypto accepted, `X509Certificate.raw`). Walks Certificate -> TBSCertificate ->
 * [3] extensions (RFC 5280 4.1) and reads EKU, SAN, key usage and basic constraints; an extension
 * that appears twice is refused (RFC 5280 4.2).
 * @throws ParseError EK_CERT_DER_INVALID
 */
export function readEkProfile(der: Uint8Array): EkProfile {
  const profile: EkProfile = { eku: null, san: null, keyUsage: null, ca: false };
  const cert = readOne(der, Tag.SEQUENCE, 'Certificate');
  const [tbs] = elements(cert.content, 'Certificate');
  if (tbs?.tag !== Tag.SEQUENCE) return bad('tbsCertificate', 0, 'not a SEQUENCE');
  const exts = elements(tbs.content, 'tbsCertificate').find((t) => t.tag === Tag.EXTENSIONS);
  if (exts === undefined) return profile;
  const seen = new Set<string>();
  const list = readOne(exts.content, Tag.SEQUENCE, 'extensions');
  for (const ext of elements(list.content, 'extensions')) {
    if (ext.tag !== Tag.SEQUENCE) bad('extension', ext.offset, 'not a SEQUENCE');
    const parts = elements(ext.content, 'extension');
    const id = parts[0];
    const value = parts[parts.length - 1];
    if (id?.tag !== Tag.OID || value?.tag !== Tag.OCTET_STRING || parts.length > 3)
      return bad('extension', ext.offset, 'not {extnID, critical?, extnValue}');
    const oid = oidText(id.content, 'extension.extnID');
    if (seen.has(oid)) bad('extension', ext.offset, `extension ${oid} appears twice`);
    seen.add(oid);
    if (oid === EkOid.EXT_KEY_USAGE) {
      const seq = readOne(value.content, Tag.SEQUENCE, 'extKeyUsage');
      profile.eku = elements(seq.content, 'extKeyUsage').map((t) =>
        t.tag === Tag.OID ? oidText(t.content, 'extKeyUsage') : bad('extKeyUsage', t.offset, 'not an OID'),
      );
    } else if (oid === EkOid.SUBJECT_ALT_NAME) profile.san = readSan(value.content);
    else if (oid === EkOid.KEY_USAGE) profile.keyUsage = readKeyUsage(value.content);
    else if (oid === EkOid.BASIC_CONSTRAINTS) profile.ca = readCa(value.content);
  }
  return profile;
}

/**
 * What in a profile breaks the TCG EK profile, as sentences; empty when nothing does. Hard
 * problems: a CA certificate; an EKU extension without tcg-kp-EKCertificate; no SAN, or one
 * without the TPM manufacturer, model and version; a key usage extension without
 * keyEncipherment (RSA EK) or keyAgreement (ECC EK). An absent EKU or key usage extension is
 * allowed (RFC 5280: no restriction) and reported by `ekProfileNotes`.
 */
export function ekProfileProblems(p: EkProfile, keyType: string | undefined): string[] {
  const out: string[] = [];
  if (p.ca) out.push('the EK certificate is a CA (basicConstraints cA)');
  if (p.eku !== null && !p.eku.includes(EkOid.EK_CERTIFICATE))
    out.push(`extended key usage [${p.eku.join(', ')}] lacks tcg-kp-EKCertificate ${EkOid.EK_CERTIFICATE}`);
  if (p.san === null) out.push('no subjectAltName: the TPM manufacturer, model and version are missing');
  else {
    const missing = (['manufacturer', 'model', 'version'] as const).filter((k) => p.san?.[k] === null);
    if (missing.length > 0) out.push(`subjectAltName directoryName lacks the TPM ${missing.join(', ')}`);
  }
  if (p.keyUsage !== null) {
    if (keyType === 'rsa' && !p.keyUsage.keyEncipherment)
      out.push('key usage of an RSA EK lacks keyEncipherment');
    if (keyType === 'ec' && !p.keyUsage.keyAgreement) out.push('key usage of an ECC EK lacks keyAgreement');
  }
  return out;
}

/** What the profile allows but a reader should know: absent EKU or key usage extensions. */
export function ekProfileNotes(p: EkProfile): string[] {
  return [
    ...(p.eku === null ? ['no extended key usage extension'] : []),
    ...(p.keyUsage === null ? ['no key usage extension'] : []),
  ];
}
