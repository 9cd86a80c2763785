// Test fixtures: a programmable stand-in for a model server (a stub: the product does not own
// model servers), and helpers to start an agent in a temp dir.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AgentOptions, type RunningAgent, startAgent } from '@tmb/agent';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
  closedEarly: boolean;
}

export type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse, seen: Seen) => unknown;

/** A fake upstream that records every request it sees and answers with `handler`. */
export async function fakeUpstream(
  handler: Handler,
): Promise<{ url: string; seen: Seen[]; server: Server; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    const parts: Buffer[] = [];
    for await (const c of req) parts.push(c as Buffer);
    const s: Seen = {
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      body: Buffer.concat(parts),
      closedEarly: false,
    };
    res.on('close', () => {
      if (!res.writableFinished) s.closedEarly = true;
    });
    seen.push(s);
    await handler(req, s.body, res, s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    server,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** Starts an agent in a fresh temp dir; close() removes the dir. */
export async function agentFor(
  upstream: string,
  extra: Partial<AgentOptions> = {},
): Promise<RunningAgent & { dataDir: string; logs: { event: string; detail: Record<string, unknown> }[] }> {
  const dataDir = await mkdtemp(join(tmpdir(), 'tmb-agent-test-'));
  const logs: { event: string; detail: Record<string, unknown> }[] = [];
  const agent = await startAgent({ upstream, dataDir, name: 'test-agent', ...extra }, (event, detail) =>
    logs.push({ event, detail }),
  );
  return {
    ...agent,
    dataDir,
    logs,
    close: async () => {
      await agent.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** SHA-256 hex computed here, independently of the product code. */
export { createHash } from 'node:crypto';
