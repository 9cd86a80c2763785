import type { ServerResponse } from 'node:http';
import { VERIFIER_ERROR_STATUS, type VerifierErrorCode } from '../errors.ts';

/** Writes `value` as a JSON response. */
export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** Writes the error shape every endpoint uses: {"error": {"code", "message"}}. */
export function sendError(
  res: ServerResponse,
  code: VerifierErrorCode | 'RECEIPT_NOT_FOUND',
  message: string,
  close = false,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const status = code === 'RECEIPT_NOT_FOUND' ? 404 : VERIFIER_ERROR_STATUS[code];
  // After a refused oversized body the rest of it is not read: close so it cannot be parsed as a request.
  if (close) res.setHeader('connection', 'close');
  sendJson(res, status, { error: { code, message } });
}
