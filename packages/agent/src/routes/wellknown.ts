import type { IncomingMessage, ServerResponse } from 'node:http';
import { isReceiptId, toBase64Url, toSignedReceipt } from '@tmb/core';
import type { ReceiptStore } from '../receipt/store.ts';

/** The agent's own endpoints live under this prefix; every other path is proxied. */
export const WELL_KNOWN = '/.well-known/tmb/';

const RECEIPTS = `${WELL_KNOWN}receipts/`;

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * GET /.well-known/tmb/agent: the agent's name and current key.
 * GET /.well-known/tmb/receipts/<id>: the agent's own copy of a receipt and the key that signed it.
 */
export function handleWellKnown(
  req: IncomingMessage,
  res: ServerResponse,
  store: ReceiptStore,
  self: { name: string; keyId: string; publicKey: Uint8Array },
): void {
  req.resume();
  if (req.method !== 'GET') {
    json(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'only GET' } });
    return;
  }
  const path = (req.url ?? '').split('?')[0];
  if (path === `${WELL_KNOWN}agent`) {
    json(res, 200, { agent: self.name, keyId: self.keyId, key: toBase64Url(self.publicKey) });
    return;
  }
  const id = path?.startsWith(RECEIPTS) ? path.slice(RECEIPTS.length) : undefined;
  const row = isReceiptId(id) ? store.byId(id) : undefined;
  if (row === undefined) {
    json(res, 404, { error: { code: 'RECEIPT_NOT_FOUND', message: 'no such receipt on this agent' } });
    return;
  }
  json(res, 200, { receipt: toSignedReceipt(row.body, row.sig), agentKey: toBase64Url(row.publicKey) });
}
