// Identifiers that name receipts and agents on the wire (docs/receipt.md, docs/api.md).

/** A receipt id: 32 lower-case hex digits (128 random bits from the agent; docs/receipt.md). */
export const RECEIPT_ID_PATTERN: RegExp = /^[0-9a-f]{32}$/;

/** Whether `id` is a receipt id: a string of 32 lower-case hex digits. */
export function isReceiptId(id: unknown): id is string {
  return typeof id === 'string' && RECEIPT_ID_PATTERN.test(id);
}

/**
 * An agent name as the verifier accepts it everywhere (enrolment, tokens, receipts, evidence;
 * docs/api.md): 1 to 128 printable ASCII characters, no spaces (`[\x21-\x7e]{1,128}`). This set
 * includes '+': an agent that signs checkpoints needs a name without it (isLogAgentName in
 * `@tmb/core/log`), because its name is part of a signed-note key name.
 */
export const AGENT_NAME_PATTERN: RegExp = /^[\x21-\x7e]{1,128}$/;

/** Whether `name` is an agent name the verifier accepts (AGENT_NAME_PATTERN). */
export function isAgentName(name: unknown): name is string {
  return typeof name === 'string' && AGENT_NAME_PATTERN.test(name);
}
