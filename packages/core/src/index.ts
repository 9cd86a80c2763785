export { readBounded, readBoundedText } from './bytes/bounded.ts';
export type { CanonicalValue, JsonValue } from './bytes/canonical.ts';
export { canonicalBytes, canonicalJson, jcs, jcsBytes, parseCanonical } from './bytes/canonical.ts';
export { Cursor } from './bytes/cursor.ts';
export {
  bytesEqual,
  concat,
  fromBase64,
  fromBase64Url,
  fromHex,
  fromUtf8,
  toBase64,
  toBase64Url,
  toHex,
  utf8,
} from './bytes/encoding.ts';
export { ed25519PublicKey, ed25519Raw, ed25519Verify } from './crypto/ed25519.ts';
export type { HashName } from './crypto/hash.ts';
export { digest, HASH_SIZE, sha256 } from './crypto/hash.ts';
export type { CoreErrorCode } from './errors.ts';
export { CORE_ERROR_CODES, CoreError, ParseError, TmbError } from './errors.ts';
export { Lru } from './lru.ts';
export {
  decodeReceiptBody,
  encodeReceiptBody,
  MAX_RECEIPT_BYTES,
  openSignedReceipt,
  RECEIPT_SIGNING_PREFIX,
  receiptSigningMessage,
  toSignedReceipt,
} from './receipt/codec.ts';
export { enrolMessage } from './receipt/enrol.ts';
export type { ReceiptServed } from './receipt/fields.ts';
export {
  CLIENT_NONCE_HEADER,
  CLIENT_NONCE_PATTERN,
  receiptClientNonce,
  receiptServed,
} from './receipt/fields.ts';
export { AGENT_NAME_PATTERN, isAgentName, isReceiptId, RECEIPT_ID_PATTERN } from './receipt/ids.ts';
export type {
  Outcome,
  ReceiptBody,
  ReceiptBodyV1,
  ReceiptBodyV2,
  SignedReceipt,
} from './receipt/types.ts';
export { OUTCOMES } from './receipt/types.ts';
export type { ReceiptCheck } from './receipt/verify.ts';
export { agentKeyId, checkExchange, checkSignedReceipt } from './receipt/verify.ts';
export type { LevelOptions } from './verdict/level.ts';
export {
  checkGroup,
  L0_CHECKS,
  L0_CLIENT_CHECKS,
  L1_CHECKS,
  L1_HOST_CHECKS,
  L2_CHECKS,
  levelOf,
  minLevel,
} from './verdict/level.ts';
export type { QuoteCheckName } from './verdict/quote.ts';
export { firstFailure, QUOTE_CHECK_SOURCES, quoteCheck } from './verdict/quote.ts';
export type { Check, CheckStatus, Level, TpmRootClass, Verdict, VerdictTpm } from './verdict/types.ts';
export { LEVELS } from './verdict/types.ts';
