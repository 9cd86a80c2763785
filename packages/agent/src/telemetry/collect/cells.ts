/**
 * Readers of one cell of a telemetry tool's output (nvidia-smi CSV cells, dcgm-exporter labels):
 * a number with or without its unit, a GPU identity, a header name. They never throw: a cell
 * without a value says why, and the caller counts the reason.
 */

const NUMBER = /^-?\d+(?:\.\d+)?$/;

/** A cell's value, or the reason it has none. */
export type Cell =
  | { ok: true; value: number }
  | { ok: false; reason: 'not-available' | 'not-supported' | 'tool-error' | 'not-a-number' | 'wrong-unit' };

/**
 * Reads a numeric cell printed with or without its unit (`62.87 W` or `62.87`), and the
 * bracketed messages nvidia-smi prints instead of a value.
 */
export function parseNumericCell(raw: string, unit: string): Cell {
  if (raw.startsWith('[')) {
    if (raw === '[N/A]') return { ok: false, reason: 'not-available' };
    if (raw === '[Not Supported]') return { ok: false, reason: 'not-supported' };
    return { ok: false, reason: 'tool-error' };
  }
  if (raw === 'N/A') return { ok: false, reason: 'not-available' };
  let text = raw;
  const space = raw.lastIndexOf(' ');
  if (space !== -1) {
    if (raw.slice(space + 1) !== unit) return { ok: false, reason: 'wrong-unit' };
    text = raw.slice(0, space);
  }
  if (!NUMBER.test(text)) return { ok: false, reason: 'not-a-number' };
  return { ok: true, value: Number(text) };
}

/**
 * Longest GPU name or UUID kept: NVML's buffers for both are 96 bytes with the terminating NUL
 * (NVML_DEVICE_NAME_V2_BUFFER_SIZE, NVML_DEVICE_UUID_V2_BUFFER_SIZE in nvml.h).
 */
export const MAX_IDENTITY = 95;

/**
 * A UUID as NVML prints it: `GPU-` (a whole GPU) or `MIG-` (a MIG instance), then hex groups
 * separated by dashes; any letter is accepted, not only hex, since nothing is read from it.
 */
const UUID = /^(?:GPU|MIG)-[0-9A-Za-z-]{1,91}$/;
/** Printable ASCII, no leading or trailing space: GPU product names are plain ASCII. */
const NAME = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/;

/** A text cell's value, or the reason it has none. */
export type TextCell =
  | { ok: true; value: string }
  | { ok: false; reason: 'not-available' | 'not-supported' | 'tool-error' | 'bad-identity' };

/**
 * Reads a GPU identity cell or label (attacker-influenced text that ends up in verdicts): a
 * `name` must be 1-95 printable ASCII characters without surrounding space, a `uuid` must be
 * `GPU-` or `MIG-` and up to 91 letters, digits and dashes. nvidia-smi's bracketed messages
 * mean no value; anything else is `bad-identity`.
 */
export function parseIdentityCell(raw: string, kind: 'name' | 'uuid'): TextCell {
  if (raw.startsWith('[')) {
    if (raw === '[N/A]') return { ok: false, reason: 'not-available' };
    if (raw === '[Not Supported]') return { ok: false, reason: 'not-supported' };
    return { ok: false, reason: 'tool-error' };
  }
  if (raw === 'N/A') return { ok: false, reason: 'not-available' };
  if (raw.length > MAX_IDENTITY) return { ok: false, reason: 'bad-identity' };
  return (kind === 'uuid' ? UUID : NAME).test(raw)
    ? { ok: true, value: raw }
    : { ok: false, reason: 'bad-identity' };
}

/** The field name of a header cell: `power.draw [W]` → `power.draw`. */
export function headerName(cell: string): string {
  const b = cell.indexOf(' [');
  return b === -1 ? cell : cell.slice(0, b);
}
