import { fromBase64Url, toBase64Url } from '@tmb/core';
import type { LogFeeder } from '../log/feeder.ts';
import { type CheckpointKey, certifyCheckpointKey } from './certify.ts';
import type { AttestClient } from './client.ts';
import type { AttestHost } from './host.ts';

type Log = (event: string, detail: Record<string, unknown>) => void;

/**
 * This start's standing at the verifier with its TPM: the AK enrolled and activated, the
 * TPM-held checkpoint key certified, and the TPM boot (resetCount) the measurement log and that
 * key belong to. A TPM reset under the running agent (a reboot it survived, or a TPM or swtpm
 * restarted) is seen in the agent's own quote and handled by newBoot().
 */
export class TpmStanding {
  readonly #host: AttestHost;
  readonly #client: AttestClient;
  readonly #feeder: LogFeeder;
  readonly #o: { agent: string; origin: string; receiptKeyId: string | undefined; emit: Log };
  /** The checkpoint key (null before enrolment, or when the verifier has no endpoint for it). */
  key: CheckpointKey | null = null;
  activated = false;
  /** The boot of the measurement log (`log`) and of the key's certification (`key`). */
  readonly #boot: { log: number | undefined; key: number | undefined } = { log: undefined, key: undefined };

  constructor(
    host: AttestHost,
    client: AttestClient,
    feeder: LogFeeder,
    o: { agent: string; origin: string; receiptKeyId: string | undefined; emit: Log },
  ) {
    this.#host = host;
    this.#client = client;
    this.#feeder = feeder;
    this.#o = o;
  }

  /** AK enrolment: EK public, EK certificate, AK public area; ActivateCredential; the checkpoint key. */
  async enrol(): Promise<void> {
    const host = this.#host;
    const { challenge } = await this.#client.post<{ challenge: string }>('/v1/attest/enroll', {
      agent: this.#o.agent,
      ekPublic: toBase64Url(host.ek.public),
      ekCertificate: host.ek.certificate === null ? null : toBase64Url(host.ek.certificate),
      akPublic: toBase64Url(host.ak.public),
      pcr: host.pcr,
    });
    const secret = await host.driver.activateCredential(fromBase64Url(challenge));
    await this.#client.post('/v1/attest/activate', { agent: this.#o.agent, secret: toBase64Url(secret) });
    this.#o.emit('ak_activated', { pcr: host.pcr });
    if (this.#o.receiptKeyId !== undefined && this.key === null) {
      this.key = await this.#certify(this.#o.receiptKeyId);
      this.#o.emit(this.key === null ? 'checkpoint_key_unsupported' : 'checkpoint_key_certified', {});
    }
    this.activated = true;
  }

  /**
   * Whether a quote at `resetCount` is of another boot than this start's measurement log and
   * checkpoint key (the first quote's boot is taken as this start's when no key fixed it).
   */
  isNewBoot(resetCount: number): boolean {
    this.#boot.log ??= resetCount;
    this.#boot.key ??= resetCount;
    return resetCount !== this.#boot.log || (this.key !== null && resetCount !== this.#boot.key);
  }

  /**
   * A TPM reset: every PCR is back at its reset value and the checkpoint key's certification
   * names the old boot, so nothing of the old boot may pass for the new one (docs/evidence.md,
   * "Log runs and recovery"). The measurement log starts over (the key binding and every tracked
   * file measured again, now), the receipt log starts a new run (receipts no quote of the old
   * boot covered end with the old run), and a new checkpoint key is certified in the new boot.
   * Each step is done once per boot, so a failed attempt resumes where it stopped.
   * @throws TpmDriverError, VerifierRefusal, AgentError from the steps
   */
  async newBoot(resetCount: number): Promise<void> {
    if (this.#boot.log !== resetCount) {
      const before = this.#boot.log ?? null;
      this.#o.emit('tpm_reset', { resetCount, before });
      await this.#host.newBoot();
      this.#feeder.breakRun(
        `TPM reset (resetCount ${before ?? '?'} to ${resetCount}): a new boot, a new host state`,
      );
      this.#boot.log = resetCount;
    }
    const id = this.#o.receiptKeyId;
    if (this.#boot.key !== resetCount && id !== undefined && this.key !== null) {
      const key = await this.#certify(id);
      if (key !== null) this.key = key;
      else this.#boot.key = resetCount; // (#certify set it from the certification otherwise)
      this.#o.emit('checkpoint_key_certified', { resetCount: key?.resetCount ?? null });
    }
  }

  async #certify(receiptKeyId: string): Promise<CheckpointKey | null> {
    const key = await certifyCheckpointKey({
      driver: this.#host.driver,
      client: this.#client,
      agent: this.#o.agent,
      origin: this.#o.origin,
      receiptKeyId,
    });
    if (key !== null) this.#boot.key = key.resetCount;
    return key;
  }
}
