import { CoreError } from '../errors.ts';

const BY_LENGTH: Record<number, string> = { 40: 'sha1', 64: 'sha256', 96: 'sha384', 128: 'sha512' };
const SIZES: Record<string, number> = { sha1: 40, sha256: 64, sha384: 96, sha512: 128 };

/**
 * A digest in the one form registries and measurements are compared in: `<algo>:<lower hex>`.
 * Accepts `sha256:<hex>` (any case) or bare hex whose length names the algorithm.
 * @throws CoreError REGISTRY_INVALID for anything else
 */
export function normalizeDigest(text: string): string {
  const colon = text.indexOf(':');
  const alg = colon < 0 ? BY_LENGTH[text.length] : text.slice(0, colon).toLowerCase();
  const hex = (colon < 0 ? text : text.slice(colon + 1)).toLowerCase();
  if (alg === undefined || SIZES[alg] !== hex.length || !/^[0-9a-f]+$/.test(hex)) {
    throw new CoreError(
      'REGISTRY_INVALID',
      `${JSON.stringify(text)} is not a sha1/sha256/sha384/sha512 digest`,
    );
  }
  return `${alg}:${hex}`;
}
