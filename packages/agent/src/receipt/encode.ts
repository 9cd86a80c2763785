import {
  CLIENT_NONCE_PATTERN,
  CoreError,
  encodeReceiptBody,
  OUTCOMES,
  RECEIPT_ID_PATTERN,
  RECEIPT_SIGNING_PREFIX,
  type ReceiptServed,
} from '@tmb/core';
import type { ReceiptFields } from './sign.ts';

// The agent writes one receipt per exchange, always v2 with the same members. core's
// encodeReceiptBody (validate, then a generic RFC 8785 writer over sorted keys, then UTF-8) took
// ~15 µs of the ~30 µs it costs to encode a receipt and build its signing message; this writer
// spells the v2 members out in their canonical order and checks each value against the same
// rules as core's validator (codec.ts), ~5 µs. Its bytes are those of encodeReceiptBody, and it
// refuses what encodeReceiptBody refuses: test/receipt/encode.test.ts checks both, over random
// fields, against core. The members that are the same for every receipt of a start (agent, key,
// served) are checked once, by core itself, when the encoder is made.

const HEX64 = /^[0-9a-f]{64}$/;
const METHOD = /^[A-Z]+$/;
const PREFIX = Buffer.from(RECEIPT_SIGNING_PREFIX).toString('latin1');

function fail(path: string, what: string): never {
  throw new CoreError('RECEIPT_MALFORMED', `receipt body.${path}: ${what}`);
}

function str(v: unknown, path: string, max: number, re?: RegExp): string {
  if (typeof v !== 'string') fail(path, 'expected a string');
  if (v.length > max) fail(path, `longer than ${max}`);
  if (re !== undefined && !re.test(v)) fail(path, `does not match ${re}`);
  return JSON.stringify(v);
}

function nullableStr(v: unknown, path: string, max: number, re?: RegExp): string {
  return v === null ? 'null' : str(v, path, max, re);
}

function uint(v: unknown, path: string): string {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    fail(path, 'expected a non-negative integer');
  return Object.is(v, -0) ? '0' : String(v);
}

function nullableUint(v: unknown, path: string): string {
  return v === null ? 'null' : uint(v, path);
}

function status(v: unknown, path: string): string {
  if (v === null) return 'null';
  const s = uint(v, path);
  if ((v as number) < 100 || (v as number) > 999) fail(path, 'expected an HTTP status');
  return s;
}

function own(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'expected an object');
  return v as Record<string, unknown>;
}

/**
 * Writes receipt v2 bodies of one signer (its agent name, key id and `served`) straight into
 * the message its key signs: RECEIPT_SIGNING_PREFIX then the canonical body bytes, one buffer.
 * @throws CoreError RECEIPT_MALFORMED when made with an agent name, key id or served digests
 *   that no receipt may carry.
 */
export class ReceiptEncoder {
  readonly #agent: string;
  readonly #key: string;
  readonly #served: string;

  constructor(agent: string, keyId: string, served: ReceiptServed) {
    // core checks the per-start members once (any receipt with them would fail the same way).
    encodeReceiptBody({
      v: 2,
      type: 'tmb.receipt',
      id: '0'.repeat(32),
      agent,
      key: keyId,
      seq: 0,
      request: { id: 'r', method: 'GET', path: '/', bytes: 0, sha256: '0'.repeat(64) },
      response: { status: null, upstreamStatus: null, stream: false, bytes: 0, sha256: '0'.repeat(64) },
      model: { requested: null, reported: null },
      usage: { prompt: null, completion: null, total: null },
      time: { start: 0, firstByte: null, end: 0 },
      outcome: 'complete',
      client: { nonce: null },
      served,
    });
    this.#agent = JSON.stringify(agent);
    this.#key = JSON.stringify(keyId);
    this.#served = `{"engine":${served.engine === null ? 'null' : JSON.stringify(served.engine)},"weights":${served.weights === null ? 'null' : JSON.stringify(served.weights)}}`;
  }

  /**
   * The signing message of the receipt with these fields at `seq`: `message` (prefix + body)
   * and `body` (a view of its body bytes, the same bytes as encodeReceiptBody of that body).
   * Members outside the ReceiptFields type are not written (core would refuse them).
   * @throws CoreError RECEIPT_MALFORMED for a value a receipt v2 may not carry.
   */
  encode(f: ReceiptFields, seq: number): { message: Buffer; body: Uint8Array } {
    const rq = own(f.request, 'request');
    const rs = own(f.response, 'response');
    const m = own(f.model, 'model');
    const u = own(f.usage, 'usage');
    const t = own(f.time, 'time');
    const c = own(f.client, 'client');
    if (typeof rs.stream !== 'boolean') fail('response.stream', 'expected a boolean');
    if (!(OUTCOMES as readonly unknown[]).includes(f.outcome)) fail('outcome', 'not an outcome');
    const text =
      `${PREFIX}{"agent":${this.#agent},"client":{"nonce":${nullableStr(c.nonce, 'client.nonce', 128, CLIENT_NONCE_PATTERN)}},` +
      `"id":${str(f.id, 'id', 32, RECEIPT_ID_PATTERN)},"key":${this.#key},` +
      `"model":{"reported":${nullableStr(m.reported, 'model.reported', 256)},"requested":${nullableStr(m.requested, 'model.requested', 256)}},` +
      `"outcome":"${f.outcome}",` +
      `"request":{"bytes":${uint(rq.bytes, 'request.bytes')},"id":${str(rq.id, 'request.id', 256)},"method":${str(rq.method, 'request.method', 16, METHOD)},"path":${str(rq.path, 'request.path', 16384)},"sha256":${str(rq.sha256, 'request.sha256', 64, HEX64)}},` +
      `"response":{"bytes":${uint(rs.bytes, 'response.bytes')},"sha256":${str(rs.sha256, 'response.sha256', 64, HEX64)},"status":${status(rs.status, 'response.status')},"stream":${rs.stream},"upstreamStatus":${status(rs.upstreamStatus, 'response.upstreamStatus')}},` +
      `"seq":${uint(seq, 'seq')},"served":${this.#served},` +
      `"time":{"end":${uint(t.end, 'time.end')},"firstByte":${nullableUint(t.firstByte, 'time.firstByte')},"start":${uint(t.start, 'time.start')}},` +
      `"type":"tmb.receipt",` +
      `"usage":{"completion":${nullableUint(u.completion, 'usage.completion')},"prompt":${nullableUint(u.prompt, 'usage.prompt')},"total":${nullableUint(u.total, 'usage.total')}},"v":2}`;
    const message = Buffer.from(text, 'utf8');
    // A plain Uint8Array view (no copy), as the store hands bodies out everywhere else.
    const body = new Uint8Array(
      message.buffer,
      message.byteOffset + PREFIX.length,
      message.length - PREFIX.length,
    );
    return { message, body };
  }
}
