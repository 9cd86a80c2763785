import type { IncomingMessage } from 'node:http';
import { fromBase64Url } from '@tmb/core';
import { VerifierError } from '../errors.ts';

/**
 * Reads a request body of at most `max` bytes and parses it as JSON. A declared
 * Content-Length over the cap is refused before any byte is read; a body that grows past it
 * is refused as soon as it does. Bytes and JSON are attacker-controlled.
 * @throws VerifierError BODY_TOO_LARGE | BODY_MALFORMED
 */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > max) {
    throw new VerifierError('BODY_TOO_LARGE', `request body of ${declared} bytes is over ${max}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > max) throw new VerifierError('BODY_TOO_LARGE', `request body is over ${max} bytes`);
      chunks.push(chunk as Buffer);
    }
  } catch (cause) {
    if (cause instanceof VerifierError) throw cause;
    // The client went away or the request timed out mid-body.
    throw new VerifierError('BODY_MALFORMED', 'request body was cut off', { cause });
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new VerifierError('BODY_MALFORMED', 'request body is not JSON', { cause });
  }
}

/** `value` as a plain JSON object, or BODY_MALFORMED naming what was expected. */
export function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new VerifierError('BODY_MALFORMED', `${what} must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** `obj[key]` as a string, or BODY_MALFORMED. */
export function stringField(obj: Record<string, unknown>, key: string, max = 4096): string {
  const v = obj[key];
  if (typeof v !== 'string' || v.length > max) {
    throw new VerifierError('BODY_MALFORMED', `"${key}" must be a string of at most ${max} characters`);
  }
  return v;
}

/** `obj[key]`, an unpadded base64url string of at most `max` characters, as bytes. @throws VerifierError BODY_MALFORMED */
export function bytesField(obj: Record<string, unknown>, key: string, max = 1 << 20): Uint8Array {
  try {
    return fromBase64Url(stringField(obj, key, max));
  } catch (cause) {
    if (cause instanceof VerifierError) throw cause;
    throw new VerifierError('BODY_MALFORMED', `"${key}" is not unpadded base64url`, { cause });
  }
}
