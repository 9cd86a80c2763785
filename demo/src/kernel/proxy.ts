import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePortPair } from '@tmb/agent/tpm';
import type { TpmLink } from './link.ts';
import { messageSize, TPM_MAX_MESSAGE } from './tpm.ts';

/** The resource-manager proxy in front of swtpm (docs/kernel.md, "The TPM proxy"). */
export interface TpmProxy {
  /** Data port; the control port is port + 1, as tcti-swtpm expects. */
  port: number;
  close(): Promise<void>;
}

function listen(server: Server, port: number): Promise<boolean> {
  return new Promise((ok) => {
    server.once('error', () => ok(false));
    server.listen(port, '127.0.0.1', () => ok(true));
  });
}

/**
 * Serves swtpm's protocol on 127.0.0.1 for host processes while the simulated kernel keeps the
 * only connection to swtpm. Data port: one client at a time owns the TPM, as with swtpm itself
 * (a second waits, its bytes unread, until the first disconnects), so tpm2-tools' transient
 * objects and sessions never meet another client's; each whole command (header size, at most
 * 64 KiB) goes over `link` and its whole response comes back, and the kernel's own extends fall
 * between two commands. Control port: each connection is forwarded byte for byte to swtpm's
 * control port (tcti-swtpm sets the locality there).
 */
export async function startTpmProxy(link: TpmLink, log: (line: string) => void): Promise<TpmProxy> {
  const sockets = new Set<Socket>();
  const waiting: Socket[] = [];
  let owner: Socket | null = null;

  const next = () => {
    owner = null;
    while (waiting.length > 0) {
      const s = waiting.shift()!;
      if (s.destroyed) continue;
      owner = s;
      s.resume();
      return;
    }
  };

  const serve = (s: Socket) => {
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    const pump = async () => {
      if (busy) return;
      busy = true;
      s.pause();
      while (!s.destroyed) {
        const size = messageSize(buf);
        if (size < 0) break;
        if (size < 10 || size > TPM_MAX_MESSAGE) {
          log(`tpm proxy: refused a ${size}-byte command`);
          s.destroy();
          break;
        }
        if (buf.length < size) break;
        const cmd = new Uint8Array(buf.subarray(0, size));
        buf = buf.subarray(size);
        try {
          const res = await link.send(cmd);
          if (!s.destroyed) s.write(res);
        } catch (e) {
          log(`tpm proxy: ${(e as Error).message}`);
          s.destroy();
        }
      }
      busy = false;
      if (!s.destroyed && owner === s) s.resume();
    };
    s.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      if (buf.length > TPM_MAX_MESSAGE + 10 && messageSize(buf) > TPM_MAX_MESSAGE) s.destroy();
      else void pump();
    });
  };

  const data = createServer({ pauseOnConnect: true }, (s) => {
    sockets.add(s);
    s.setNoDelay(true);
    s.on('error', () => undefined);
    s.once('close', () => {
      sockets.delete(s);
      if (owner === s) next();
    });
    serve(s);
    if (owner === null) {
      owner = s;
      s.resume();
    } else {
      s.pause(); // attaching 'data' above made it flowing: it waits, unread, for its turn
      waiting.push(s);
    }
  });

  const control = createServer((c) => {
    const up = connect(link.port + 1, link.host);
    sockets.add(c);
    sockets.add(up);
    for (const [a, b] of [
      [c, up],
      [up, c],
    ] as const) {
      a.on('error', () => undefined);
      a.once('close', () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });

  let port = 0;
  for (let attempt = 0; attempt < 20 && port === 0; attempt++) {
    const p = await freePortPair();
    if (!(await listen(data, p))) continue;
    if (await listen(control, p + 1)) port = p;
    else await new Promise((r) => data.close(r));
  }
  if (port === 0) throw new Error('tpm proxy: no two consecutive free ports on 127.0.0.1');

  return {
    port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all([data, control].map((srv) => new Promise((r) => srv.close(r))));
    },
  };
}
