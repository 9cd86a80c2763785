import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AttestService } from '../attest/service.ts';
import type { TokenAuth } from '../auth.ts';
import type { ResultSigner } from '../ear.ts';
import type { HostAppraiser } from '../host/appraiser.ts';
import type { Logger } from '../log.ts';
import type { VerifierMetrics } from '../metrics.ts';
import type { ResolvedVerifierOptions } from '../options.ts';
import type { KeyRecord, Store } from '../store/types.ts';
import type { TelemetryService } from '../telemetry/service.ts';
import type { Waiters } from '../waiters.ts';

/** The service's parts, shared by every request (server.ts builds them once). */
export interface VerifierParts {
  store: Store;
  /** Enrolled keys read so far, by key id (enrolments are never changed or removed). */
  keys: Map<string, KeyRecord>;
  auth: TokenAuth;
  waiters: Waiters;
  options: ResolvedVerifierOptions;
  signer: ResultSigner;
  /** Nonces, pending AK enrolments and the agents' receipt trees (docs/evidence.md). */
  attest: AttestService;
  /** GPU telemetry: ingest, per-request check, host test (docs/telemetry.md). */
  telemetry?: TelemetryService;
  /** Host measurements and the registry checks of receipts (docs/registry.md). */
  host?: HostAppraiser;
  /** The service's log (log.ts). */
  log: Logger;
  /** The service's Prometheus metrics (metrics.ts). */
  metrics: VerifierMetrics;
}

/** What every endpoint handler gets: the service's parts and the request. */
export interface Context extends VerifierParts {
  /** Aborted when the request's connection closes or the service stops. */
  signal: AbortSignal;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The service's log, with this request's id on every line (log.ts). */
  log: Logger;
  /** This request's id: the client's `x-request-id` when safe, else generated; echoed back. */
  requestId: string;
}
