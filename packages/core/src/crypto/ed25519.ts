// Ed25519 public keys and signature checks: node:crypto in Node (keys built once and cached),
// @noble/curves in a browser.
export type { Ed25519Key } from '#platform/ed25519.ts';
export {
  ED25519_KEY_CACHE_MAX,
  ed25519KeyCacheSize,
  ed25519PublicKey,
  ed25519Raw,
  ed25519Verify,
} from '#platform/ed25519.ts';
