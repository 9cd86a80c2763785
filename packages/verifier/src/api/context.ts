import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TokenAuth } from '../auth.ts';
import type { ResultSigner } from '../ear.ts';
import type { ResolvedVerifierOptions } from '../options.ts';
import type { KeyRecord, Store } from '../store/types.ts';
import type { Waiters } from '../waiters.ts';

/** What every endpoint handler gets: the service's parts and the request. */
export interface Context {
  store: Store;
  /** Enrolled keys read so far, by key id (enrolments are never changed or removed). */
  keys: Map<string, KeyRecord>;
  auth: TokenAuth;
  waiters: Waiters;
  options: ResolvedVerifierOptions;
  signer: ResultSigner;
  /** Aborted when the request's connection closes or the service stops. */
  signal: AbortSignal;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
}
