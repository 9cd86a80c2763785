// Replay's digest primitives: native latin1 digests in Node, pure JS in a browser (see
// platform/node/hash.ts for why replay moves digests through latin1 strings).
export { hashLatin1, hashOnce, latin1Of, putLatin1, scratch } from '#platform/hash.ts';
