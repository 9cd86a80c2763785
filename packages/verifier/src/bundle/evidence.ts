import { createHash } from 'node:crypto';
import { type CanonicalValue, canonicalBytes, decodeReceiptBody, toBase64Url } from '@tmb/core';
import type { BootPolicy } from '@tmb/core/boot';
import type { CompiledPolicy } from '@tmb/core/ima';
import { parseBinaryColumns } from '@tmb/core/ima';
import { encodeInclusionProof } from '@tmb/core/log';
import type { CompiledRegistry } from '@tmb/core/registry';
import type { AttestService } from '../attest/service.ts';
import type { HostReferences } from '../host/checks.ts';
import type { Store, StoredReceipt } from '../store/types.ts';
import { type ArchivedQuote, joinedLogs } from './archive.ts';
import { ArchiveRowError } from './rowcodec.ts';

/** What assembling a bundle needs of the verifier. */
export interface BundleDeps {
  store: Store;
  attest: AttestService;
  /** The reference values verdicts use; absent: none configured. */
  refs?: HostReferences;
}

/** A bundle's evidence (docs/bundle.md) as the client reads it back, and its canonical digest. */
export type BundleEvidence =
  | { ok: true; evidence: CanonicalValue; evidenceSha256: string }
  | { ok: false; message: string };

/**
 * The offline evidence of a stored receipt (docs/bundle.md): the receipt, its inclusion proof
 * under the latest archived quote that covers it, that quote with its AK, EK, logs and the
 * reference values the verdict used. Not ready (ok false, with why) while no quote this verifier
 * archived covers it (an agent without a TPM never gets one).
 */
export async function bundleEvidence(d: BundleDeps, stored: StoredReceipt): Promise<BundleEvidence> {
  let seq: number;
  let model: string | null;
  try {
    const body = decodeReceiptBody(stored.body);
    seq = body.seq;
    model = body.model.requested;
  } catch {
    return { ok: false, message: 'the stored receipt body does not decode: no bundle can cover it' };
  }
  let quotes: ArchivedQuote[] | null;
  try {
    quotes = await d.attest.bundles.judging(stored.agent, seq);
  } catch (err) {
    // A row of the archive that does not decode (rowcodec.ts): named, and no bundle.
    if (!(err instanceof ArchiveRowError)) throw err;
    return { ok: false, message: `${err.code}: ${err.message}` };
  }
  const key = await d.store.getKey(stored.keyId);
  if (quotes === null || key === undefined)
    return { ok: false, message: `no quote archived here covers receipt #${seq} of ${stored.agent} yet` };
  const q = quotes.at(-1)!;
  // Leaf index = seq - base of the quote's log run (docs/proofs.md, "Log runs").
  const run = { run: q.run ?? 0, base: q.base ?? 0 };
  if ((await d.attest.trees.grow(stored.agent, run, q.size)) < q.size)
    return { ok: false, message: `this verifier holds fewer than ${q.size} receipts of ${stored.agent}` };
  const logs = joinedLogs(quotes);
  const evidence = {
    receipt: { body: toBase64Url(stored.body), sig: toBase64Url(stored.sig) },
    agentKey: toBase64Url(key.key),
    inclusion: {
      checkpoint: q.note,
      proof: encodeInclusionProof(
        await d.attest.trees.inclusionProof(stored.agent, run, seq - run.base, q.size),
      ),
    },
    checkpointKey: q.checkpointKey,
    tpmKey: q.tpmKey ?? null,
    previous: q.previous,
    quote: { ...q.quote, nonce: q.nonce },
    quoted: q.quoted,
    ak: { public: q.akPublic },
    ek: { public: q.ekPublic, certificate: q.ekCertificate, chain: [] as string[] },
    appLog: { pcr: q.pcr, entries: toBase64Url(logs.app) },
    kernel:
      logs.kernel === null
        ? null
        : { entries: toBase64Url(logs.kernel), bootLog: logs.boot === null ? null : toBase64Url(logs.boot) },
    policy: policyFor(d.refs, logs.kernel, model),
    telemetry: null,
  };
  // As the client reads it back from JSON (no undefined members).
  const json = JSON.parse(JSON.stringify(evidence)) as CanonicalValue;
  const evidenceSha256 = createHash('sha256').update(canonicalBytes(json)).digest('hex');
  return { ok: true, evidence: json, evidenceSha256 };
}

/**
 * The reference values the verdict used, reduced to what the boot's kernel entries touch: the
 * runtime policy's entries for their paths (and its excludes and settings whole), the registry
 * with the requested model and every model whose weights were measured (a digest is weights,
 * engine, tool or agent file by the registry as a whole, so those parts stay whole), and the
 * boot policy. An entry is judged by these exactly as by the full values.
 */
function policyFor(refs: HostReferences | undefined, kernel: Uint8Array | null, model: string | null) {
  const paths = new Set<string>();
  const digests = new Set<string>();
  if (kernel !== null) {
    try {
      const cols = parseBinaryColumns(kernel);
      for (let i = 0; i < cols.length; i++) {
        paths.add(cols.path(i));
        digests.add(cols.digest(i));
      }
    } catch {
      // Archived chunks replayed when accepted; unparseable bytes here leave the subset empty.
    }
  }
  return {
    runtime: refs?.policy ? runtimeSubset(refs.policy, paths) : null,
    registry: refs?.registry ? registrySubset(refs.registry, digests, model) : null,
    boot: refs?.boot ? bootJson(refs.boot) : null,
  };
}

function pick(r: Record<string, string[]>, keys: Set<string>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const k of Object.keys(r).sort()) if (keys.has(k)) out[k] = r[k]!;
  return out;
}

function runtimeSubset(c: CompiledPolicy, paths: Set<string>): unknown {
  const p = c.policy;
  return {
    ...p,
    digests: pick(p.digests, paths),
    keyrings: pick(p.keyrings, paths),
    'ima-buf': pick(p['ima-buf'], paths),
  };
}

function registrySubset(c: CompiledRegistry, measured: Set<string>, model: string | null): unknown {
  const hex = (d: string) => d.slice(d.indexOf(':') + 1).toLowerCase();
  const models: Record<string, { weights: string[] }> = {};
  for (const [name, m] of Object.entries(c.registry.models))
    if (name === model || m.weights.some((w) => measured.has(hex(w)))) models[name] = m;
  return { ...c.registry, models };
}

function bootJson(b: BootPolicy): unknown {
  const list = (s: ReadonlySet<string> | null | undefined) => (s ? [...s].sort() : undefined);
  const out: Record<string, unknown> = { version: 1, secureBoot: b.secureBoot };
  for (const [db, member] of [
    ['PK', 'pk'],
    ['KEK', 'kek'],
    ['db', 'db'],
    ['dbx', 'dbx'],
  ] as const)
    if (b.keys[db]) out[member] = list(b.keys[db]);
  if (b.bootApplications) out.bootApplications = list(b.bootApplications);
  if (b.bootFiles) out.bootFiles = list(b.bootFiles);
  // parseBootPolicy anchors each expression as ^(?:re)$: its source gives back the text.
  if (b.kernelCmdline) out.kernelCmdline = b.kernelCmdline.map((re) => re.source.slice(4, -2));
  return out;
}
