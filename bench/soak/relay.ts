/**
 * A TCP relay on 127.0.0.1 between the agent and the verifier, so the soak bench can cut the
 * network: `cut()` closes the listener and destroys every relayed connection (the agent then
 * sees resets and refused connections), `restore()` listens again on the same port.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A relay that can be cut and restored. */
export interface Relay {
  /** `http://127.0.0.1:PORT`: what the agent is told the verifier's URL is. */
  url: string;
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Starts a relay to `targetPort` on 127.0.0.1, listening on an ephemeral port. */
export async function startRelay(targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    const s = createServer((inbound) => {
      const outbound = connect(targetPort, '127.0.0.1');
      sockets.add(inbound);
      sockets.add(outbound);
      const drop = () => {
        inbound.destroy();
        outbound.destroy();
        sockets.delete(inbound);
        sockets.delete(outbound);
      };
      inbound.on('error', drop).on('close', drop);
      outbound.on('error', drop).on('close', drop);
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const stop = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cut: stop,
    restore: async () => {
      if (!server) await listen();
    },
    close: stop,
  };
}
