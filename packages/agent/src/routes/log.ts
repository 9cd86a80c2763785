import type { IncomingMessage, ServerResponse } from 'node:http';
import { CoreError } from '@tmb/core';
import { encodeConsistencyProof, encodeInclusionProof } from '@tmb/core/log';
import type { ReceiptLog } from '../log/tree.ts';

/** The receipt-log endpoints of the agent (docs/evidence.md), under /.well-known/tmb/. */
export const LOG_PATHS = {
  checkpoint: '/.well-known/tmb/checkpoint',
  inclusion: '/.well-known/tmb/proof/inclusion',
  consistency: '/.well-known/tmb/proof/consistency',
} as const;

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function error(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, JSON.stringify({ error: { code, message } }));
}

/** A query parameter as a non-negative safe integer, or undefined. */
function count(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null || !/^(0|[1-9][0-9]{0,15})$/.test(v)) return undefined;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Answers a log endpoint and returns true, or returns false when the path is not one of them
 * (the caller routes it on).
 * - GET checkpoint: the latest signed checkpoint note (text/plain), 404 before the first one.
 * - GET proof/inclusion?index=I&size=N[&run=R]: docs/proofs.md inclusion proof JSON; leaf I of
 *   log run R (default: the current run) is the receipt with seq base_R + I.
 * - GET proof/consistency?from=M&to=N[&run=R]: docs/proofs.md consistency proof JSON, within run R.
 * Bad or out-of-range parameters answer 400 PROOF_RANGE_INVALID.
 */
export function handleLogRoute(req: IncomingMessage, res: ServerResponse, log: ReceiptLog): boolean {
  const url = new URL(req.url ?? '/', 'http://agent.invalid');
  const path = url.pathname;
  if (path !== LOG_PATHS.checkpoint && path !== LOG_PATHS.inclusion && path !== LOG_PATHS.consistency)
    return false;
  req.resume();
  if (req.method !== 'GET') {
    error(res, 405, 'METHOD_NOT_ALLOWED', 'only GET');
    return true;
  }
  if (path === LOG_PATHS.checkpoint) {
    const cp = log.latestCheckpoint();
    if (cp === null) error(res, 404, 'CHECKPOINT_NOT_FOUND', 'the log has signed no checkpoint yet');
    else send(res, 200, cp.note, 'text/plain; charset=utf-8');
    return true;
  }
  try {
    const run = url.searchParams.has('run') ? count(url, 'run') : log.run.run;
    if (run === undefined || run > log.run.run) throw new CoreError('PROOF_RANGE_INVALID', 'no such log run');
    const runSize = log.tree(run).size;
    if (path === LOG_PATHS.inclusion) {
      const index = count(url, 'index');
      const size = count(url, 'size') ?? runSize;
      if (index === undefined || index >= size)
        throw new CoreError('PROOF_RANGE_INVALID', 'need index < size');
      send(res, 200, JSON.stringify(encodeInclusionProof(log.inclusionProof(index, size, run))));
    } else {
      const from = count(url, 'from');
      const to = count(url, 'to') ?? runSize;
      if (from === undefined || from > to) throw new CoreError('PROOF_RANGE_INVALID', 'need from <= to');
      send(res, 200, JSON.stringify(encodeConsistencyProof(log.consistencyProof(from, to, run))));
    }
  } catch (err) {
    if (!(err instanceof CoreError)) throw err;
    error(res, 400, err.code, `${err.message} (log run ${log.run.run}, size ${log.size})`);
  }
  return true;
}
