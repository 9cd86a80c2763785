import { fromBase64Url, fromHex } from '@tmb/core';
import { UPSTREAM_LIMITS } from '@tmb/core/host';
import { ClientError } from '../errors.ts';
import type { Bundle } from './types.ts';

/**
 * Caps on a bundle's members, in decoded bytes (docs/bundle.md). The kernel log of a boot is
 * carried whole (only all of it replays to the quoted PCR 10): 64 MiB, as the verifier's
 * evidence cap; the rest are far above what real tools write.
 */
export const BUNDLE_LIMITS = {
  kernel: 64 << 20,
  bootLog: 1 << 20,
  appLog: 8 << 20,
  tpm: 64 * 1024,
  note: 128 * 1024,
  cert: 16 * 1024,
  chain: 8,
  result: 1 << 20,
} as const;

/** The bytes of a bundle's evidence, decoded once (what verifyBundle checks). */
export interface DecodedEvidence {
  receiptBody: Uint8Array;
  agentKey: Uint8Array;
  checkpointKey: Uint8Array;
  attest: Uint8Array;
  signature: Uint8Array;
  pcrs: Uint8Array;
  nonce: Uint8Array;
  akPublic: Uint8Array;
  ekPublic: Uint8Array;
  ekCertificate: Uint8Array | null;
  ekChain: Uint8Array[];
  appLog: Uint8Array;
  kernel: Uint8Array | null;
  bootLog: Uint8Array | null;
  previousKey: Uint8Array | null;
}

const bad = (path: string, must: string) => new ClientError('BUNDLE_MALFORMED', `"${path}" must be ${must}`);

type Obj = Record<string, unknown>;

function object(v: unknown, path: string, members: readonly string[]): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, 'an object');
  const o = v as Obj;
  for (const k of Object.keys(o))
    if (!members.includes(k))
      throw new ClientError('BUNDLE_MALFORMED', `"${path}" has an unknown member "${k}"`);
  for (const k of members) if (!(k in o)) throw bad(`${path}.${k}`, 'present');
  return o;
}

function str(o: Obj, k: string, path: string, max: number): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length > max)
    throw bad(`${path}.${k}`, `a string of at most ${max} characters`);
  return v;
}

function b64u(o: Obj, k: string, path: string, maxBytes: number): Uint8Array {
  const s = str(o, k, path, Math.ceil(maxBytes / 3) * 4);
  try {
    return fromBase64Url(s);
  } catch {
    throw bad(`${path}.${k}`, 'canonical unpadded base64url');
  }
}

function nullable<T>(o: Obj, k: string, f: () => T): T | null {
  return o[k] === null ? null : f();
}

/**
 * Checks a bundle's shape (docs/bundle.md): every member present, none unknown, strings and
 * bytes within BUNDLE_LIMITS, base64url canonical. The JSON values it leaves to later checks
 * (the proof, policy, upstream and telemetry) are kept as given.
 * @throws ClientError BUNDLE_MALFORMED naming the member
 */
export function decodeBundle(value: unknown): { bundle: Bundle; bytes: DecodedEvidence } {
  const top = object(value, 'bundle', ['v', 'type', 'evidence', 'result']);
  if (top.v !== 1)
    throw new ClientError('BUNDLE_MALFORMED', `bundle version ${String(top.v)}: only 1 is known`);
  if (top.type !== 'tmb.bundle') throw bad('type', '"tmb.bundle"');
  str(top, 'result', 'bundle', BUNDLE_LIMITS.result);
  const e = object(top.evidence, 'evidence', [
    'receipt',
    'agentKey',
    'inclusion',
    'checkpointKey',
    'tpmKey',
    'previous',
    'quote',
    'quoted',
    'ak',
    'ek',
    'appLog',
    'kernel',
    'policy',
    'telemetry',
  ]);
  const receipt = object(e.receipt, 'evidence.receipt', ['body', 'sig']);
  const receiptBody = b64u(receipt, 'body', 'evidence.receipt', 64 * 1024);
  b64u(receipt, 'sig', 'evidence.receipt', 64);
  const inclusion = object(e.inclusion, 'evidence.inclusion', ['checkpoint', 'proof']);
  str(inclusion, 'checkpoint', 'evidence.inclusion', BUNDLE_LIMITS.note);
  const previous = nullable(e, 'previous', () => {
    const p = object(e.previous, 'evidence.previous', ['checkpoint', 'key', 'proof']);
    str(p, 'checkpoint', 'evidence.previous', BUNDLE_LIMITS.note);
    return b64u(p, 'key', 'evidence.previous', 64);
  });
  if (e.tpmKey !== null) {
    const t = object(e.tpmKey, 'evidence.tpmKey', ['type', 'public', 'certify']);
    if (t.type !== 'tpm-p256') throw bad('evidence.tpmKey.type', '"tpm-p256"');
    b64u(t, 'public', 'evidence.tpmKey', BUNDLE_LIMITS.tpm);
    const c = object(t.certify, 'evidence.tpmKey.certify', ['attest', 'signature', 'nonce', 'receiptKeyId']);
    b64u(c, 'attest', 'evidence.tpmKey.certify', BUNDLE_LIMITS.tpm);
    b64u(c, 'signature', 'evidence.tpmKey.certify', BUNDLE_LIMITS.tpm);
    for (const k of ['nonce', 'receiptKeyId'])
      if (!/^[0-9a-f]{64}$/.test(str(c, k, 'evidence.tpmKey.certify', 64)))
        throw bad(`evidence.tpmKey.certify.${k}`, '64 lower-case hex digits');
  }
  const quote = object(e.quote, 'evidence.quote', ['attest', 'signature', 'pcrs', 'nonce']);
  const nonce = str(quote, 'nonce', 'evidence.quote', 128);
  if (!/^(?:[0-9a-f]{2}){1,64}$/.test(nonce)) throw bad('evidence.quote.nonce', 'lower-case hex');
  const quoted = object(e.quoted, 'evidence.quoted', ['telemetryTool', 'upstream']);
  if (quoted.telemetryTool !== null) str(quoted, 'telemetryTool', 'evidence.quoted', 4096);
  upstreamShape(quoted.upstream);
  const ak = object(e.ak, 'evidence.ak', ['public']);
  const ek = object(e.ek, 'evidence.ek', ['public', 'certificate', 'chain']);
  const chain = ek.chain;
  if (!Array.isArray(chain) || chain.length > BUNDLE_LIMITS.chain)
    throw bad('evidence.ek.chain', `an array of at most ${BUNDLE_LIMITS.chain} certificates`);
  const app = object(e.appLog, 'evidence.appLog', ['pcr', 'entries']);
  if (typeof app.pcr !== 'number' || !Number.isInteger(app.pcr) || app.pcr < 8 || app.pcr > 15)
    throw bad('evidence.appLog.pcr', 'an integer 8..15');
  const kernel = nullable(e, 'kernel', () => object(e.kernel, 'evidence.kernel', ['entries', 'bootLog']));
  object(e.policy, 'evidence.policy', ['runtime', 'registry', 'boot']);
  if (e.telemetry !== null) object(e.telemetry, 'evidence.telemetry', ['summary', 'profile']);
  const bytes: DecodedEvidence = {
    receiptBody,
    agentKey: b64u(e, 'agentKey', 'evidence', 32),
    checkpointKey: b64u(e, 'checkpointKey', 'evidence', 64),
    attest: b64u(quote, 'attest', 'evidence.quote', BUNDLE_LIMITS.tpm),
    signature: b64u(quote, 'signature', 'evidence.quote', BUNDLE_LIMITS.tpm),
    pcrs: b64u(quote, 'pcrs', 'evidence.quote', BUNDLE_LIMITS.tpm),
    nonce: fromHex(nonce),
    akPublic: b64u(ak, 'public', 'evidence.ak', BUNDLE_LIMITS.tpm),
    ekPublic: b64u(ek, 'public', 'evidence.ek', BUNDLE_LIMITS.tpm),
    ekCertificate: nullable(ek, 'certificate', () =>
      b64u(ek, 'certificate', 'evidence.ek', BUNDLE_LIMITS.cert),
    ),
    ekChain: chain.map((_, i) =>
      b64u(chain as unknown as Obj, String(i), 'evidence.ek.chain', BUNDLE_LIMITS.cert),
    ),
    appLog: b64u(app, 'entries', 'evidence.appLog', BUNDLE_LIMITS.appLog),
    kernel: kernel === null ? null : b64u(kernel, 'entries', 'evidence.kernel', BUNDLE_LIMITS.kernel),
    bootLog:
      kernel === null
        ? null
        : nullable(kernel, 'bootLog', () =>
            b64u(kernel, 'bootLog', 'evidence.kernel', BUNDLE_LIMITS.bootLog),
          ),
    previousKey: previous,
  };
  return { bundle: value as Bundle, bytes };
}

/**
 * `quoted.upstream`: null, or the evidence member as the verifier accepts it (docs/upstream.md):
 * `{kind: "local" | "remote" | "none", reason?: string, processes: [{pid, exe: path | null,
 * files: [path...]}]}` within UPSTREAM_LIMITS. @throws ClientError BUNDLE_MALFORMED
 */
function upstreamShape(v: unknown): void {
  if (v === null) return;
  const at = 'evidence.quoted.upstream';
  const u = v as Obj;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(at, 'null or an object');
  for (const k of Object.keys(u))
    if (!['kind', 'reason', 'processes'].includes(k))
      throw new ClientError('BUNDLE_MALFORMED', `"${at}" has an unknown member "${k}"`);
  if (!['local', 'remote', 'none'].includes(u.kind as string))
    throw bad(`${at}.kind`, '"local", "remote" or "none"');
  if (u.reason !== undefined && (typeof u.reason !== 'string' || u.reason.length > UPSTREAM_LIMITS.reason))
    throw bad(`${at}.reason`, `a string of at most ${UPSTREAM_LIMITS.reason} characters`);
  const path = (x: unknown) => typeof x === 'string' && x.length > 0 && x.length <= UPSTREAM_LIMITS.path;
  const ps = u.processes;
  if (!Array.isArray(ps) || ps.length > UPSTREAM_LIMITS.processes)
    throw bad(`${at}.processes`, `an array of at most ${UPSTREAM_LIMITS.processes} processes`);
  for (const [i, p] of ps.entries()) {
    const q = object(p, `${at}.processes[${i}]`, ['pid', 'exe', 'files']);
    if (typeof q.pid !== 'number' || !Number.isSafeInteger(q.pid) || q.pid < 0)
      throw bad(`${at}.processes[${i}].pid`, 'a non-negative integer');
    if (q.exe !== null && !path(q.exe)) throw bad(`${at}.processes[${i}].exe`, 'null or a path');
    if (!Array.isArray(q.files) || q.files.length > UPSTREAM_LIMITS.files || !q.files.every(path))
      throw bad(`${at}.processes[${i}].files`, `an array of at most ${UPSTREAM_LIMITS.files} paths`);
  }
}
