export { certificateSpan } from '../crypto/x509.ts';
export { akAttributeProblem, publicKeyOf } from './akey.ts';
export type { TpmAlgId, TpmCurveId } from './alg.ts';
export {
  CURVES,
  hashName,
  TPM_GENERATED_VALUE,
  TPM_ST_ATTEST_CERTIFY,
  TPM_ST_ATTEST_QUOTE,
  TpmAlg,
  TpmCurve,
} from './alg.ts';
export type { Attest, CertifyInfo, ClockInfo, QuoteInfo } from './attest.ts';
export { attestBody, MAX_ATTEST_BYTES, parseAttest } from './attest.ts';
export type { CertifyInput, CertifyResult } from './certify.ts';
export {
  CHECKPOINT_KEY_LABEL,
  checkpointKeyAlgProblem,
  checkpointKeyAttributeProblem,
  checkpointKeyQualifying,
  verifyCertify,
} from './certify.ts';
export type { CheckpointKeyMember } from './ckey.ts';
export { checkpointNoteVerifier, spkiOf, verifyCheckpointKey } from './ckey.ts';
export { TPM_ERROR_CODES } from './codes.ts';
export type { Credential } from './credential.ts';
export { makeCredential } from './credential.ts';
export type { EkAppraisal, EkCertInput } from './ekcert.ts';
export { appraiseEkCertificate, checkEkCertificate } from './ekcert.ts';
export type { EkProfile } from './ekprofile.ts';
export { EkOid, ekProfileNotes, ekProfileProblems, readEkProfile } from './ekprofile.ts';
export { kdfa, kdfe } from './kdf.ts';
export type { PcrValues } from './pcrfile.ts';
export { parsePcrsFile } from './pcrfile.ts';
export type { TpmPublic, TpmScheme, TpmSymmetric } from './public.ts';
export { MAX_PUBLIC_BYTES, ObjectAttr, parseTpm2bPublic, parseTpmtPublic, tpmName } from './public.ts';
export type { QuoteInput, QuoteResult } from './quote.ts';
export { verifyQuote } from './quote.ts';
export type { HardwareRoot } from './roots.ts';
export { HARDWARE_EK_ROOTS } from './roots.ts';
export type { PcrBank } from './selection.ts';
export { bitmapToPcrs, sameSelection, selectionText } from './selection.ts';
export type { TpmSignature } from './signature.ts';
export { parseSignature } from './signature.ts';
export { manufacturerName } from './vendors.ts';
