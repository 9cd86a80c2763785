// Text decoding of spans of a byte array in a browser: TextDecoder and plain loops, the same
// functions as platform/node/text.ts (which uses Buffer).

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const loose = new TextDecoder('utf-8', { ignoreBOM: true });

/** Lower-case hex of bytes[start, end). */
export function hexSpan(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) out += HEX[bytes[i]!];
  return out;
}

/** bytes[start, end) as latin1 text (one character per byte). */
export function latin1Span(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i += 4096)
    out += String.fromCharCode(...bytes.subarray(i, Math.min(i + 4096, end)));
  return out;
}

/** bytes[start, end) decoded as UTF-8; the caller has checked that they are UTF-8. */
export function utf8Text(bytes: Uint8Array, start: number, end: number): string {
  return loose.decode(bytes.subarray(start, end));
}

/** Whether bytes[start, end) are valid UTF-8 (strict: no overlongs, no surrogates). */
export function isUtf8Span(bytes: Uint8Array, start: number, end: number): boolean {
  try {
    strict.decode(bytes.subarray(start, end));
    return true;
  } catch {
    return false;
  }
}

/** The UTF-8 bytes of `text`. */
export function utf8Bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
