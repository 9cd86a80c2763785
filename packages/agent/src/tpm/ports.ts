import { createServer } from 'node:net';

function bind(port: number): Promise<import('node:net').Server | null> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(null));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

/**
 * Two consecutive free TCP ports on 127.0.0.1 (swtpm's TCTI finds the control port at port + 1,
 * and swtpm cannot listen on port 0): binds port 0, then the port after it, retrying.
 */
export async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const a = await bind(0);
    if (a === null) continue;
    const port = (a.address() as { port: number }).port;
    const b = port < 65535 ? await bind(port + 1) : null;
    await new Promise((r) => a.close(r));
    if (b !== null) {
      await new Promise((r) => b.close(r));
      return port;
    }
  }
  throw new Error('no two consecutive free ports on 127.0.0.1');
}
