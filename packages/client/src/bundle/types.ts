import type { InclusionProofJson } from '@tmb/core/log';
import type { CheckpointKeyMember } from '@tmb/core/tpm';

/**
 * The offline evidence bundle, version 1 (docs/bundle.md). One JSON file per receipt: the
 * evidence a verdict rests on, and the verifier's EAR whose `tmb.evidence-sha256` claim is the
 * SHA-256 of the canonical JSON of `evidence`. Change rule: a new optional member of `evidence`
 * keeps `v: 1` (decoders reject unknown members, so a reader of an older build refuses it by
 * name); a changed meaning or a new required member bumps `v`.
 */
export interface Bundle {
  v: 1;
  type: 'tmb.bundle';
  evidence: BundleEvidence;
  /** The verifier's EAR JWT (docs/result.md) with `tmb.evidence-sha256`. */
  result: string;
}

/** Every member is untrusted until verifyBundle has checked it. Bytes are base64url. */
export interface BundleEvidence {
  /** The signed receipt exactly as stored: base64url canonical body bytes and signature. */
  receipt: { body: string; sig: string };
  /** The raw Ed25519 key (base64url) the receipt names by its SHA-256. */
  agentKey: string;
  /** The quoted checkpoint note covering the receipt and the receipt's inclusion proof in it. */
  inclusion: { checkpoint: string; proof: InclusionProofJson };
  /** The agent key that signed the checkpoint: a raw Ed25519 key (base64url), enrolled for the agent. */
  checkpointKey: string;
  /**
   * The TPM-held P-256 key that co-signed the checkpoint and its TPM2_Certify by the AK for the
   * checkpoint's agent key (core CheckpointKeyMember, docs/evidence.md); null: none (key.bound fails).
   */
  tpmKey: CheckpointKeyMember | null;
  /** The previous quoted checkpoint of the agent and the consistency proof to this one; null: the first. */
  previous: { checkpoint: string; key: string; proof: unknown } | null;
  /** The TPM quote over the checkpoint (tpm2_quote -m -s -o outputs) and the verifier's nonce (hex). */
  quote: { attest: string; signature: string; pcrs: string; nonce: string };
  /** The evidence members the quote's qualifying data covers besides the note (core quoteQualifyingData). */
  quoted: { telemetryTool: string | null; upstream: unknown };
  /** The AK's TPM2B_PUBLIC. */
  ak: { public: string };
  /** The EK's TPM2B_PUBLIC, its certificate (DER) when the verifier kept it, and intermediates (DER). */
  ek: { public: string; certificate: string | null; chain: string[] };
  /** The agent's measurement log (binary ima-ng) from entry 0 of the boot up to the quote, and its PCR. */
  appLog: { pcr: number; entries: string };
  /** The kernel's IMA log from entry 0 of the boot up to the quote, and the boot event log; null: none. */
  kernel: { entries: string; bootLog: string | null } | null;
  /** The reference values the verdict used, reduced to what the covered entries touch. */
  policy: BundlePolicy;
  /** The telemetry summary of the request and the profile it was judged by; null: none. */
  telemetry: { summary: unknown; profile: string | null } | null;
}

/** The verifier's reference values, as JSON (docs/bundle.md, "Policy"). */
export interface BundlePolicy {
  /** The Keylime runtime policy restricted to the paths of the covered kernel entries; null: none loaded. */
  runtime: unknown;
  /** The model registry restricted to the requested model and the models whose weights were measured. */
  registry: unknown;
  /** The measured-boot policy (BootPolicyJson); null: none. */
  boot: unknown;
}
