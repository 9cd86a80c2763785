// Test helpers: an agent key and receipts signed the way an agent signs them, made here with
// node:crypto and core's encoder only, independently of the verifier under test.
import { generateKeyPairSync, type KeyObject, randomBytes, sign } from 'node:crypto';
import {
  agentKeyId,
  concat,
  ed25519Raw,
  encodeReceiptBody,
  type ReceiptBody,
  type ReceiptBodyV2,
  receiptSigningMessage,
  type SignedReceipt,
  toBase64Url,
  toSignedReceipt,
  utf8,
} from '@tmb/core';

export const TOKEN = 'test-token-0123456789abcdef';
export const PINNED_TOKEN = 'pinned-token-0123456789abcdef';
/** A reader (auditor) token, for verifiers started with `readerTokens: [READER_TOKEN]`. */
export const READER_TOKEN = 'reader-token-0123456789abcdef';

const NAMED_TOKENS: Record<string, string> = { 'gpu-1': TOKEN, 'pinned-1': PINNED_TOKEN };

/** The test token that names `agent` (every token names exactly one agent): TOKEN for gpu-1. */
export function tokenFor(agent: string): string {
  return NAMED_TOKENS[agent] ?? `test-token-0123456789-${agent}`;
}

/** Verifier `tokens` naming each agent with its tokenFor token. */
export function agentTokens(...agents: string[]): { token: string; agent: string }[] {
  return agents.map((agent) => ({ token: tokenFor(agent), agent }));
}

export interface TestKey {
  name: string;
  privateKey: KeyObject;
  raw: Uint8Array;
  keyId: string;
}

export function newKey(name: string): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const raw = ed25519Raw(publicKey);
  return { name, privateKey, raw, keyId: agentKeyId(raw) };
}

export function enrolBody(k: TestKey, name = k.name): { agent: string; key: string; proof: string } {
  const msg = concat(utf8('tmb.enroll.v1\n'), utf8(name), utf8('\n'), k.raw);
  return {
    agent: name,
    key: toBase64Url(k.raw),
    proof: toBase64Url(new Uint8Array(sign(null, msg, k.privateKey))),
  };
}

let seq = 0;

/** A receipt body as the agent signs it (v2; docs/receipt.md), with `over` replacing members. */
export function receiptBody(k: TestKey, over: Partial<ReceiptBodyV2> = {}): ReceiptBodyV2 {
  return {
    v: 2,
    type: 'tmb.receipt',
    id: randomBytes(16).toString('hex'),
    agent: k.name,
    key: k.keyId,
    seq: seq++,
    request: {
      id: `req-${seq}`,
      method: 'POST',
      path: '/v1/chat/completions',
      bytes: 2,
      sha256: '0'.repeat(64),
    },
    response: { status: 200, upstreamStatus: 200, stream: false, bytes: 2, sha256: 'f'.repeat(64) },
    model: { requested: 'm', reported: 'm' },
    usage: { prompt: 1, completion: 1, total: 2 },
    time: { start: 1_700_000_000_000_000, firstByte: 1_700_000_000_001_000, end: 1_700_000_000_002_000 },
    outcome: 'complete',
    client: { nonce: null },
    served: { weights: null, engine: null },
    ...over,
  };
}

export function signBody(k: TestKey, body: ReceiptBody): SignedReceipt {
  const bytes = encodeReceiptBody(body);
  return toSignedReceipt(bytes, new Uint8Array(sign(null, receiptSigningMessage(bytes), k.privateKey)));
}

/**
 * A JSON request. `token` left out: the token of the agent the body names (tokenFor), else
 * TOKEN; null sends none.
 */
export async function call(
  url: string,
  method: string,
  body?: unknown,
  token?: string | null,
): Promise<{ status: number; json: Record<string, unknown> }> {
  if (token === undefined) {
    const agent = (body as { agent?: unknown } | undefined)?.agent;
    token = typeof agent === 'string' && /^[\x21-\x7e]{1,128}$/.test(agent) ? tokenFor(agent) : TOKEN;
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}
