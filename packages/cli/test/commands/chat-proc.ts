// What the `tmb chat` tests share: the chat as a child process, its JSON turns, keys and servers.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tmb } from '../proc.ts';

/** A bound on a hang of one chat process (a loaded 2-core machine), never a wait. */
export const EXIT_MS = 120_000;

export type TurnJson = {
  answer: string;
  receiptId: string | null;
  agent: string | null;
  model: string | null;
  weights: string | null;
  level: string;
  ok: boolean;
  pending: boolean;
  failed: Array<{ name: string; code?: string; detail: string }>;
};

export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tmb-chat-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `tmb chat ...args` to its end, with `stdin` written then closed. */
export async function chat(
  args: string[],
  stdin = '',
): Promise<{ status: number; out: string; err: string }> {
  const p = tmb(['chat', ...args]);
  p.child.stdin.end(stdin);
  const status = await p.exited(EXIT_MS);
  return { status, out: p.out(), err: p.err() };
}

export const turns = (out: string): TurnJson[] =>
  out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as TurnJson);

/** An EC P-256 public JWK that no verifier here signs with. */
export function strangerKey(): JsonWebKey {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
}

/** An HTTP server on 127.0.0.1 answering every request with `status`, `type` and `body`. */
export async function fixedServer(
  t: TestContext,
  status: number,
  type: string,
  body: string,
): Promise<string> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(status, { 'content-type': type }).end(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}
