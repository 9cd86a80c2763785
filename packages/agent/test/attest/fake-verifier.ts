import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fromBase64Url, toBase64Url } from '@tmb/core';
import { parseBinaryLog } from '@tmb/core/ima';
import { makeCredential, parseAttest, parseTpm2bPublic, tpmName } from '@tmb/core/tpm';

/** One evidence body as posted (evidence v2 members typed). */
export interface PostedEvidence {
  agent: string;
  nonce: string;
  checkpoint: string;
  quote: { attest: string; signature: string; pcrs: string };
  log: { from: number; entries: string };
  kernel?: { from: number; entries: string } | null;
  boot?: { log: string } | null;
  telemetryTool?: string | null;
  upstream?: {
    kind: 'local' | 'remote' | 'none';
    reason?: string;
    processes: { pid: number; exe: string | null; files: string[] }[];
  } | null;
}

/**
 * A small stand-in for the verifier's agent endpoints: enrolment with a real credential
 * activation (so the agent's AK path runs), nonces, and evidence that it records and accepts,
 * advancing its kernelFrom / logFrom / resetCount as a verifier would. `v1: true` answers nonces
 * without the v2 members, as a verifier from before evidence v2.
 */
export class FakeVerifier {
  readonly evidence: PostedEvidence[] = [];
  url = '';
  v1 = false;
  /** Forced answers (tests change them between quotes); null: as a verifier would answer. */
  force: { kernelFrom?: number; bootLog?: boolean } = {};
  #server: Server | undefined;
  #secret = new Uint8Array(0);
  #state = {
    logFrom: 0,
    resetCount: null as number | null,
    size: null as number | null,
    kernelFrom: 0,
    boot: false,
  };

  async start(): Promise<this> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const answer = this.#answer(req.url ?? '', body);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  #answer(path: string, body: Record<string, unknown>): unknown {
    switch (path) {
      case '/v1/attest/enroll': {
        const ek = parseTpm2bPublic(fromBase64Url(String(body.ekPublic)));
        const ak = parseTpm2bPublic(fromBase64Url(String(body.akPublic)));
        this.#secret = new Uint8Array(randomBytes(32));
        return { challenge: toBase64Url(makeCredential(ek, tpmName(ak), this.#secret).file) };
      }
      case '/v1/attest/activate':
        if (String(body.secret) !== toBase64Url(this.#secret)) throw new Error('activation failed');
        return { agent: body.agent };
      case '/v1/attest/nonce': {
        const s = this.#state;
        const base = {
          nonce: randomBytes(32).toString('hex'),
          expiresAt: new Date(Date.now() + 30_000).toISOString(),
          logFrom: s.logFrom,
          resetCount: s.resetCount,
          checkpointSize: s.size,
        };
        if (this.v1) return base;
        return {
          ...base,
          kernelFrom: this.force.kernelFrom ?? s.kernelFrom,
          bootLog: this.force.bootLog ?? !s.boot,
        };
      }
      case '/v1/attest/evidence': {
        const ev = body as unknown as PostedEvidence;
        this.evidence.push(ev);
        const s = this.#state;
        s.resetCount = parseAttest(fromBase64Url(ev.quote.attest)).clockInfo.resetCount;
        s.logFrom = ev.log.from + parseBinaryLog(fromBase64Url(ev.log.entries)).length;
        s.size = Number(ev.checkpoint.split('\n')[1]);
        if (ev.kernel)
          s.kernelFrom = ev.kernel.from + parseBinaryLog(fromBase64Url(ev.kernel.entries)).length;
        if (ev.boot) s.boot = true;
        return { ok: true, checks: [] };
      }
      default:
        return { accepted: 0, rejected: [] };
    }
  }

  /** Waits until an evidence body satisfies `pred` (bounded), and returns it. */
  async waitFor(pred: (e: PostedEvidence) => boolean, what: string, ms = 20_000): Promise<PostedEvidence> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.evidence.find(pred);
      if (found) return found;
      if (Date.now() > deadline)
        throw new Error(`no evidence ${what} within ${ms} ms (${this.evidence.length} posted)`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async close(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
