// The one place core reads X.509 certificates (EK certificate chains): node:crypto in Node; a
// browser answers EK_CERT_INVALID (platform/web/x509.ts).
export type { Certificate } from '#platform/x509.ts';
export { certificateSpan, chainTo, parseCertificate, parsePemBundle } from '#platform/x509.ts';
