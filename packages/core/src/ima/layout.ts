import type { TemplateName } from './types.ts';

// The template data layout of the binary list, written by the builders (write.ts) and by the
// ASCII parser, which rebuilds it so that both forms replay the same way. See binary.ts.

const encoder = new TextEncoder();

/** The parts of one entry's template data. */
export interface TemplateParts {
  template: TemplateName;
  alg: string;
  digest: Uint8Array;
  name: Uint8Array;
  extra: Uint8Array | null;
}

/** Size of the template data for these parts. */
export function templateDataSize(p: TemplateParts): number {
  if (p.template === 'ima') return 24 + p.name.length;
  return (
    4 +
    p.alg.length +
    2 +
    p.digest.length +
    4 +
    p.name.length +
    1 +
    (p.extra === null ? 0 : 4 + p.extra.length)
  );
}

/**
 * Writes template data at `at` (little-endian lengths): `ima` is digest | u32 len | name;
 * the others are `u32 len | "<algo>:\0" digest`, `u32 len | name NUL`, then `u32 len | extra`.
 * Returns where the digest, the name and the extra field's content (-1 when none) start.
 */
export function writeTemplateData(out: Uint8Array, at: number, p: TemplateParts): Spans {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (p.template === 'ima') {
    out.set(p.digest, at);
    view.setUint32(at + 20, p.name.length, true);
    out.set(p.name, at + 24);
    return { digestAt: at, pathAt: at + 24, extraAt: -1 };
  }
  let i = at;
  view.setUint32(i, p.alg.length + 2 + p.digest.length, true);
  i += 4;
  out.set(encoder.encode(p.alg), i);
  i += p.alg.length;
  out[i] = 0x3a;
  out[i + 1] = 0;
  i += 2;
  const digestAt = i;
  out.set(p.digest, i);
  i += p.digest.length;
  view.setUint32(i, p.name.length + 1, true);
  i += 4;
  const pathAt = i;
  out.set(p.name, i);
  i += p.name.length;
  out[i] = 0;
  i += 1;
  if (p.extra === null) return { digestAt, pathAt, extraAt: -1 };
  view.setUint32(i, p.extra.length, true);
  out.set(p.extra, i + 4);
  return { digestAt, pathAt, extraAt: i + 4 };
}

/** Where writeTemplateData put the parts. */
export interface Spans {
  digestAt: number;
  pathAt: number;
  extraAt: number;
}
