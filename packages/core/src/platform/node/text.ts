import { Buffer, isUtf8 } from 'node:buffer';

// Text decoding of spans of a large byte array (ima/strings.ts: a digest's hex and a path for
// each of 300,000 IMA entries). Node's Buffer decodes a span natively into one flat string with
// no intermediate view; a JS loop was 3x slower and string appends built ropes of 1 KiB per
// digest. platform/web/text.ts is the browser's twin.

let lastBytes: Uint8Array | null = null;
let lastBuffer: Buffer = Buffer.alloc(0);

/** A Buffer over the same memory (one per input, cached: the parser decodes many spans of it). */
function asBuffer(bytes: Uint8Array): Buffer {
  if (bytes !== lastBytes) {
    lastBytes = bytes;
    lastBuffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  return lastBuffer;
}

/** Lower-case hex of bytes[start, end). */
export function hexSpan(bytes: Uint8Array, start: number, end: number): string {
  return asBuffer(bytes).toString('hex', start, end);
}

/** bytes[start, end) as latin1 text (one character per byte). */
export function latin1Span(bytes: Uint8Array, start: number, end: number): string {
  return asBuffer(bytes).toString('latin1', start, end);
}

/** bytes[start, end) decoded as UTF-8; the caller has checked that they are UTF-8. */
export function utf8Text(bytes: Uint8Array, start: number, end: number): string {
  return asBuffer(bytes).toString('utf8', start, end);
}

/** Whether bytes[start, end) are valid UTF-8 (strict: no overlongs, no surrogates). */
export function isUtf8Span(bytes: Uint8Array, start: number, end: number): boolean {
  return isUtf8(asBuffer(bytes).subarray(start, end));
}

/** The UTF-8 bytes of `text`. */
export function utf8Bytes(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}
