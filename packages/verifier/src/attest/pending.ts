import { fromBase64Url, toBase64Url } from '@tmb/core';
import type { Store } from '../store/types.ts';
import type { PendingAk } from './service.ts';

/** A pending enrolment as stored: the byte fields in base64url, the rest as they are. */
type PendingRow = Omit<PendingAk, 'secretSha256' | 'ekPublic' | 'akPublic' | 'akName'> & {
  secretSha256: string;
  ekPublic: string;
  akPublic: string;
  akName: string;
};

/**
 * AK enrolments waiting for their ActivateCredential answer, kept in the store (putPendingAk,
 * takePendingAk) so that the activation may reach another verifier process than the enrolment:
 * a load balancer sends each request where it likes. One per agent (a new enrolment replaces
 * the waiting one); each expires (`expires`, Unix ms); an activation takes it atomically, so
 * one challenge answer activates at most once across every process.
 */
export class PendingAks {
  readonly #store: Store;
  readonly #now: () => number;

  constructor(store: Store, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  /** Keeps `p` as `agent`'s waiting enrolment until `p.expires`. */
  set(agent: string, p: PendingAk): Promise<void> {
    const row: PendingRow = {
      ...p,
      secretSha256: toBase64Url(p.secretSha256),
      ekPublic: toBase64Url(p.ekPublic),
      akPublic: toBase64Url(p.akPublic),
      akName: toBase64Url(p.akName),
    };
    return this.#store.putPendingAk(agent, JSON.stringify(row), p.expires);
  }

  /** Takes `agent`'s live waiting enrolment (it is gone after); undefined when none or expired. */
  async take(agent: string): Promise<PendingAk | undefined> {
    const text = await this.#store.takePendingAk(agent, this.#now());
    if (text === undefined) return undefined;
    const row = JSON.parse(text) as PendingRow;
    return {
      ...row,
      secretSha256: fromBase64Url(row.secretSha256),
      ekPublic: fromBase64Url(row.ekPublic),
      akPublic: fromBase64Url(row.akPublic),
      akName: fromBase64Url(row.akName),
    };
  }

  /** Whether `agent` has a live waiting enrolment (a verdict's pending detail names it). */
  has(agent: string): Promise<boolean> {
    return this.#store.hasPendingAk(agent, this.#now());
  }
}
