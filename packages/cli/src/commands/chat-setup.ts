import { createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import type { VerifierKey } from '@tmb/client';
import { type Level, readBoundedText } from '@tmb/core';
import { UsageError } from '../args.ts';
import { readBounded } from '../input.ts';
import { ChatFailure } from './chat-turn.ts';

/** Largest --verifier-key file read (a P-256 JWK is about 200 bytes). */
const MAX_KEY_BYTES = 64 << 10;
/** Largest --token-file read. */
const MAX_TOKEN_BYTES = 8 << 10;
/** Largest answer read from the verifier's key route or the provider's model list. */
const MAX_SMALL_ANSWER_BYTES = 1 << 20;
/** Timeout of the start-up calls (the verifier's key, the provider's model list). */
export const SETUP_TIMEOUT_MS = 10_000;

/** The levels --expect-level takes. */
export const EXPECTABLE: readonly Level[] = ['L0', 'L1', 'L2', 'L3'];

/**
 * The verifier key pinned in a JWK file (GET /v1/verifier-key, saved out of band): an EC P-256
 * public key. A private key is refused: the client has no business holding the verifier's.
 * @throws UsageError naming the file and what is wrong with it (exit 2).
 */
export async function readVerifierKey(file: string): Promise<VerifierKey> {
  const where = `--verifier-key ${file}`;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(await readBounded(file, MAX_KEY_BYTES));
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${where}: ${err.message}`, { cause: err });
    throw new UsageError(`${where}: not UTF-8 text`, { cause: err });
  }
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${where}: not JSON (a JWK, as GET /v1/verifier-key answers)`, { cause: err });
  }
  if (typeof key !== 'object' || key === null || Array.isArray(key))
    throw new UsageError(`${where}: not a JWK object`);
  const k = key as Record<string, unknown>;
  if ('d' in k)
    throw new UsageError(
      `${where}: holds a private key ("d"); pin the verifier's public key (GET /v1/verifier-key)`,
    );
  if (k.kty !== 'EC' || k.crv !== 'P-256' || typeof k.x !== 'string' || typeof k.y !== 'string')
    throw new UsageError(`${where}: not an EC P-256 public JWK (kty EC, crv P-256, x, y)`);
  try {
    createPublicKey({ key: k as NodeJwk, format: 'jwk' });
  } catch (err) {
    throw new UsageError(`${where}: not a valid P-256 public key (${(err as Error).message})`, {
      cause: err,
    });
  }
  return k as VerifierKey;
}

/**
 * The provider's API token from --token-file: its first line, trimmed. Read from a file, never
 * from argv or the environment (an OPENAI_API_KEY meant for another provider must not leak here).
 * @throws UsageError for an unreadable, empty or multi-line file.
 */
export async function readToken(file: string): Promise<string> {
  const text = new TextDecoder().decode(await readBounded(file, MAX_TOKEN_BYTES)).trim();
  if (text === '') throw new UsageError(`--token-file ${file}: empty`);
  if (/[\r\n]/.test(text)) throw new UsageError(`--token-file ${file}: more than one line`);
  if (/[^\x21-\x7e]/.test(text)) throw new UsageError(`--token-file ${file}: not a printable ASCII token`);
  return text;
}

/**
 * The OpenAI base URL of --url: as given when it ends in `/v1`, else with `/v1` added (a load
 * balancer's or agent's root). Trailing slashes are dropped.
 * @throws UsageError when it is not an http(s) URL.
 */
export function providerBase(url: string): string {
  const u = httpUrl(url, '--url');
  const path = u.pathname.replace(/\/+$/, '');
  return `${u.origin}${path.endsWith('/v1') ? path : `${path}/v1`}`;
}

/** An http or https URL from a flag, or UsageError. */
export function httpUrl(value: string, flag: string): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`${flag} ${JSON.stringify(value)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new UsageError(`${flag} must be an http or https URL, found ${u.protocol}`);
  if (u.username !== '' || u.password !== '')
    throw new UsageError(`${flag}: no credentials in the URL (use --token-file)`);
  return u;
}

/** What the start-up check of the verifier found. */
export type VerifierCheck =
  | { ok: true; samePin: boolean }
  | { ok: false; code: 'VERIFIER_UNREACHABLE'; message: string };

/**
 * Asks the client's verifier for its key before the first message, so an unreachable verifier
 * is reported at once rather than as a failed check on every answer. The key served is only
 * compared with the pinned one (to warn of a rotated key); it is never used.
 */
export async function checkVerifier(verifier: string, pinned: VerifierKey): Promise<VerifierCheck> {
  const url = `${verifier}/v1/verifier-key`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(SETUP_TIMEOUT_MS) });
    const text = await readBoundedText(res, MAX_SMALL_ANSWER_BYTES);
    if (res.status !== 200)
      return { ok: false, code: 'VERIFIER_UNREACHABLE', message: `${url} answered HTTP ${res.status}` };
    const served = JSON.parse(text) as { x?: unknown; y?: unknown };
    return { ok: true, samePin: served.x === pinned.x && served.y === pinned.y };
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause?.code;
    const why = typeof cause === 'string' ? cause : (err as Error).message;
    return {
      ok: false,
      code: 'VERIFIER_UNREACHABLE',
      message: `cannot reach the verifier at ${url}: ${why}`,
    };
  }
}

/**
 * The first model the provider lists (GET /models), for a chat without --model.
 * @throws ChatFailure CLI_IO_FAILED (unreachable) or CLI_FAILED (not an OpenAI model list).
 */
export async function firstModel(base: string, apiKey: string): Promise<string> {
  const url = `${base}/models`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json' },
      signal: AbortSignal.timeout(SETUP_TIMEOUT_MS),
    });
    text = await readBoundedText(res, MAX_SMALL_ANSWER_BYTES);
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown } }).cause?.code;
    const why = typeof cause === 'string' ? cause : (err as Error).message;
    throw new ChatFailure('CLI_IO_FAILED', `cannot reach the provider at ${base}: ${why}`);
  }
  let id: unknown;
  try {
    id = (JSON.parse(text) as { data?: Array<{ id?: unknown }> }).data?.[0]?.id;
  } catch {
    id = undefined;
  }
  if (res.status !== 200 || typeof id !== 'string' || id === '')
    throw new ChatFailure(
      'CLI_FAILED',
      `${url} answered HTTP ${res.status} without an OpenAI model list: give the model with --model`,
    );
  return id;
}
