import { Buffer, isUtf8 as isUtf8Native } from 'node:buffer';

// Hex and path decoding for the parse loop: hex of a digest and the text of a path for each of
// 300,000 entries. Node's Buffer decodes a span of a larger buffer natively into one flat
// string with no intermediate view; a JS loop was 3x slower and string appends built ropes of
// 1 KiB per digest. Like crypto/hash.ts, a browser build swaps this file for a pure-JS one.

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

/** Whether bytes[start, end) are all zero (a violation's template hash). */
export function zeroSpan(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * Strict UTF-8 text of bytes[start, end), or null when the bytes are not UTF-8 (attacker-
 * controlled: a path is whatever bytes the file system allows).
 */
export function utf8Span(bytes: Uint8Array, start: number, end: number): string | null {
  let ascii = true;
  for (let i = start; i < end; i++) {
    if (bytes[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  const buf = asBuffer(bytes);
  if (ascii) return buf.toString('latin1', start, end);
  return isUtf8Native(buf.subarray(start, end)) ? buf.toString('utf8', start, end) : null;
}

/** Whether bytes[start, end) are valid UTF-8, without keeping the text. */
export function isUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++)
    if (bytes[i]! >= 0x80) return isUtf8Native(asBuffer(bytes).subarray(start, end));
  return true;
}

/** Bytes of a lower- or upper-case hex string, or null when it is not even-length hex. */
export function parseHex(text: string): Uint8Array | null {
  if (text.length % 2 !== 0) return null;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(text.charCodeAt(2 * i));
    const lo = nibble(text.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) return null;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}
