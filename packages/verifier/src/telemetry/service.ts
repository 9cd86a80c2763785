import { type Check, levelOf, type ReceiptBody, receiptServed } from '@tmb/core';
import type { CompiledRegistry } from '@tmb/core/registry';
import { HostMonitor } from '@tmb/stats';
import { VerifierError } from '../errors.ts';
import { ingestTelemetry, type TelemetryAck } from './ingest.ts';
import { linkReceipt, profileDigests, type TelemetryFinding } from './link.ts';
import { type LoadedProfile, ProfileRegistry, profileKeyFromText } from './profiles.ts';
import { SqliteTelemetryStore, type TelemetryStore } from './store.ts';

/** Telemetry options of the verifier (`startVerifier({ telemetry })`, docs/telemetry.md). */
export interface VerifierTelemetryOptions {
  /** Folder of signed profiles (`--profiles DIR`). Left out: every telemetry check is skipped. */
  profilesDir?: string;
  /** The profile signer's key file text (`--profile-key FILE`): PEM or base64 raw Ed25519. */
  profileKey?: string;
  /** Samples kept per agent, newest first. Default 360,000 (10 hours at 10 Hz). */
  retainSamples?: number;
  /** SPRT error rates of the per-host test against substitute profiles. Default 1e-4 and 0.01. */
  alpha?: number;
  beta?: number;
}

interface HostState {
  monitor: HostMonitor;
  seen: Set<string>;
  last: string;
}

/**
 * The verifier's telemetry: ingest of the agents' sample batches, the telemetry.consistent check
 * of each verdict, the per-host sequential test, and the finding for one receipt (with its
 * features, for calibration and debugging). Plain arguments only: the HTTP side is
 * routes/telemetry.ts.
 */
export class TelemetryService {
  readonly store: TelemetryStore;
  readonly profiles: ProfileRegistry;
  readonly #o: { alpha: number; beta: number };
  readonly #hosts = new Map<string, HostState>();
  readonly #registry: CompiledRegistry | null;

  /**
   * `registry`: the verifier's model registry, by which a receipt's served weights digest may
   * choose its profile (#servedTrusted). Left out (null): profiles are chosen by model name only.
   */
  constructor(
    dbPath: string,
    o: VerifierTelemetryOptions = {},
    registry: CompiledRegistry | null = null,
    store?: TelemetryStore,
  ) {
    this.#registry = registry;
    const retain = o.retainSamples ?? 360_000;
    if (!Number.isSafeInteger(retain) || retain <= 0)
      throw new VerifierError('VERIFIER_CONFIG_INVALID', 'retainSamples must be a positive integer');
    const key = o.profileKey === undefined ? undefined : profileKeyFromText(o.profileKey);
    this.profiles = new ProfileRegistry(o.profilesDir, key);
    this.store =
      store ?? new SqliteTelemetryStore(dbPath === ':memory:' ? ':memory:' : `${dbPath}.telemetry`, retain);
    this.#o = { alpha: o.alpha ?? 1e-4, beta: o.beta ?? 0.01 };
  }

  /**
   * Stores an agent's pushed sample batches (`batches`, as sent: attacker-controlled) when they
   * continue its digest chain (ingest.ts); the caller checked that the token acts for `agent`.
   * @throws VerifierError BODY_MALFORMED | BATCH_TOO_LARGE | TELEMETRY_CHAIN_BROKEN | TELEMETRY_BATCH_TAMPERED
   */
  ingest(agent: string, batches: unknown): Promise<TelemetryAck> {
    return ingestTelemetry(this.store, agent, batches);
  }

  /**
   * The finding for a decoded receipt body whose earlier checks `ok` says passed.
   * `servedTrusted`: a profile may be chosen by the receipt's served weights digest
   * (#servedTrusted, linkReceipt, profileDigests). Default false: by model name.
   */
  async find(body: ReceiptBody | null, ok: boolean, servedTrusted = false): Promise<TelemetryFinding> {
    if (body === null || !ok)
      return {
        check: { name: 'telemetry.consistent', status: 'skipped', detail: 'an earlier check failed' },
      };
    const profiles = this.profiles.list();
    const f = await linkReceipt(body, this.store, profiles, { servedTrusted });
    // The host test only hears requests whose GPU is the profile's (a mismatched or swapped GPU
    // already fails the request; its energy says nothing about the claimed model on that GPU).
    if (f.features !== undefined && f.profile !== undefined && f.gpu?.status === 'match') {
      const host = this.#observe(body, f, profiles, servedTrusted);
      if (host !== undefined) f.check = { ...f.check, detail: `${f.check.detail}; ${host}` };
    }
    return f;
  }

  /**
   * The telemetry.consistent check of a receipt, given the checks made so far; undefined when
   * the verifier has no profiles folder (telemetry is not appraised at all). Telemetry is
   * appraised only once the receipt itself holds (L0), and never overrides a failure.
   */
  async check(body: ReceiptBody | null, checks: readonly Check[]): Promise<Check | undefined> {
    if (!this.profiles.configured) return undefined;
    return (await this.find(body, levelOf(checks) !== 'none', this.#servedTrusted(body, checks))).check;
  }

  /**
   * Whether a receipt's served weights digest (receipt v2) may choose its telemetry profile:
   * the registry lists that digest for the model the request asked for, and the verdict's
   * `weights.allowed` passed (the quoted host's weights are that model's). Then even an agent
   * that lies in `served` can only pick a profile of the model asked for; otherwise the profile
   * is chosen by name, so a substitute is never scored against its own profile.
   */
  #servedTrusted(body: ReceiptBody | null, checks: readonly Check[]): boolean {
    const weights = body === null ? null : (receiptServed(body)?.weights ?? null);
    const model = body?.model.requested ?? null;
    if (weights === null || model === null || this.#registry === null) return false;
    if (!checks.some((c) => c.name === 'weights.allowed' && c.status === 'pass')) return false;
    return (this.#registry.weightOwners.get(`sha256:${weights}`) ?? []).includes(model);
  }

  close(): Promise<void> {
    return this.store.close();
  }

  /**
   * Feeds the host's sequential test once per receipt, against every trusted profile for the
   * same hardware and bucket with another model digest (the registered substitutes). Profiles
   * of the model asked for under its other digest (its name, or the served weights) are the same
   * model, never a substitute.
   */
  #observe(
    body: ReceiptBody,
    f: TelemetryFinding,
    profiles: readonly LoadedProfile[],
    servedTrusted: boolean,
  ): string | undefined {
    const claimed = profiles.find((p) => p.id === f.profile!.id)!;
    const k = claimed.profile.key;
    const same = new Set([k.modelDigest, ...profileDigests(body, servedTrusted)]);
    const subs = profiles.filter(
      (p) =>
        !same.has(p.profile.key.modelDigest) &&
        p.profile.key.gpuModel === k.gpuModel &&
        p.profile.key.gpuCount === k.gpuCount &&
        p.profile.key.concurrencyBucket === k.concurrencyBucket,
    );
    if (subs.length === 0) return undefined;
    const name = `${body.agent}\n${claimed.id}`;
    let h = this.#hosts.get(name);
    if (h === undefined) {
      h = {
        monitor: new HostMonitor(
          claimed.profile,
          subs.map((s) => s.profile),
          this.#o,
        ),
        seen: new Set(),
        last: '',
      };
      this.#hosts.set(name, h);
    }
    if (!h.seen.has(body.id)) {
      if (h.seen.size > 100_000) h.seen.clear();
      h.seen.add(body.id);
      const states = h.monitor.observe(f.features!);
      h.last = states
        .map((s) => `host SPRT vs ${s.substitute.modelDigest}: ${s.decision}, flagged ${s.flags} times`)
        .join('; ');
    }
    return h.last;
  }
}
