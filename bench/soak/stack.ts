/**
 * The soak bench's stack on 127.0.0.1, every part its own process or thread so that each can be
 * killed and restarted: an swtpm (provisioned, on a fixed port pair so a restart keeps its TCTI),
 * a test kernel's IMA and boot logs extended into it (the agent's fake securityfs, as in
 * packages/agent/test/attest/e2e.test.ts, so receipts can reach L1), a verifier (`tmb verifier`
 * child process, SQLite file, fixed port after its first start), a TCP relay between agent and
 * verifier, the sample model server (a worker thread) and the agent (`tmb agent` child process).
 * As root, the agent's data folder is a tmpfs mount so a phase can fill it (ENOSPC).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePortPair, provisionSwtpm, type SwtpmState, TpmDriver } from '@tmb/agent/tpm';
import { FakeSecurityfs, TestKernel } from '../../packages/agent/test/measure/kernel/fixtures.ts';
import { type Hosted, hostWorker } from '../servers.ts';
import { type Child, spawnTmb, until } from './procs.ts';
import { startRelay } from './relay.ts';

const run = promisify(execFile);

/** What the stack is started with. */
export interface StackOptions {
  model: string;
  tokenLatencyMs: number;
  /** Mount a tmpfs of this many MiB for the agent's data folder (needs root); 0: a plain folder. */
  tmpfsMiB: number;
  /** Return before the agent's TPM enrolment is done (default false: wait for it, at most 60 s). */
  noEnrolmentWait?: boolean;
  /** The agent's checkpoint interval (ms); left out: its default. */
  checkpointMs?: number;
}

/** The running stack. */
export interface Stack {
  root: string;
  agentUrl: string;
  agentAlive: () => boolean;
  /** SIGKILL the agent, then start it again on the same data folder and port, and wait for its TPM enrolment. */
  restartAgent(): Promise<void>;
  agentRssKiB: () => Promise<number | null>;
  agentDb: string;
  agentDataDir: string;
  agentLog: string;
  /** Whether agentDataDir is a tmpfs mount (the disk-full phase can run). */
  tmpfs: boolean;
  verifierUrl: () => string;
  verifierDb: string;
  verifierLog: string;
  sampleUrl: string;
  /** SIGKILL the verifier, then start it again on the same database and port. */
  restartVerifier(): Promise<void>;
  killSwtpm(): Promise<void>;
  startSwtpm(): Promise<void>;
  /** Shrinks the agent's tmpfs to what it uses now: the next block it needs is ENOSPC. */
  fillDisk(): Promise<void>;
  /** Gives the agent's tmpfs its size back. */
  freeDisk(): Promise<void>;
  cutNetwork(): Promise<void>;
  restoreNetwork(): Promise<void>;
  close(): Promise<void>;
}

const NAME = 'soak';

/** Starts the stack in a new temp folder; on failure stops what it started and removes the folder. */
export async function startStack(o: StackOptions): Promise<Stack> {
  const root = await mkdtemp(join(tmpdir(), 'tmb-soak-'));
  const cleanups: Array<() => Promise<unknown>> = [() => rm(root, { recursive: true, force: true })];
  const closeAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    cleanups.length = 0;
  };
  try {
    const agentDataDir = join(root, 'agent');
    await mkdir(agentDataDir);
    let tmpfs = false;
    if (o.tmpfsMiB > 0 && process.getuid?.() === 0) {
      try {
        await run('mount', ['-t', 'tmpfs', '-o', `size=${o.tmpfsMiB}m,mode=0700`, 'tmpfs', agentDataDir]);
        tmpfs = true;
        cleanups.push(() => run('umount', ['-l', agentDataDir]));
      } catch (err) {
        // Root without the right to mount (a container without CAP_SYS_ADMIN): no disk-full phase.
        process.stderr.write(
          `soak: cannot mount a tmpfs for the agent (${String(err)}); disk_full will be skipped\n`,
        );
      }
    }
    // The TPM and the host's kernel.
    const state = await provisionSwtpm(join(root, 'swtpm'));
    const port = await freePortPair();
    let swtpm = await spawnSwtpm(state, port);
    cleanups.push(() => swtpm.stop());
    const securityfs = await new FakeSecurityfs(join(root, 'securityfs')).create(new Uint8Array(0));
    const kernel = new TestKernel(
      securityfs,
      new TpmDriver({ tcti: { kind: 'swtpm', host: '127.0.0.1', port }, workDir: join(root, 'kernel-tpm') }),
    );
    await kernel.firmware();
    await kernel.boot();
    // The verifier.
    const roots = join(root, 'ek-roots');
    await mkdir(roots);
    await writeFile(join(roots, 'root.pem'), await readFile(state.rootCertPath));
    await writeFile(join(roots, 'issuer.pem'), await readFile(state.issuerCertPath));
    const token = randomBytes(24).toString('hex');
    await writeFile(join(root, 'tokens'), `${token} ${NAME}\n`, { mode: 0o600 });
    await writeFile(join(root, 'agent-token'), token, { mode: 0o600 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(root, 'result-key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }), {
      mode: 0o600,
    });
    await mkdir(join(root, 'verifier'));
    const verifierDb = join(root, 'verifier', 'v.db');
    const verifierLog = join(root, 'verifier.log');
    const verifierArgs = (p: number) => [
      'verifier',
      '--db',
      verifierDb,
      '--tokens-file',
      join(root, 'tokens'),
      '--rate-limit',
      'off',
      '--port',
      String(p),
      '--ek-roots',
      roots,
      '--result-key',
      join(root, 'result-key.pem'),
    ];
    let verifier: Child = await spawnTmb(verifierArgs(0), { logPath: verifierLog });
    cleanups.push(() => verifier.stop());
    const verifierPort = Number(new URL(verifier.ready.listening).port);
    const relay = await startRelay(verifierPort);
    cleanups.push(() => relay.close());
    // The model server and the agent.
    const sample: Hosted = await hostWorker(new URL('./sample.worker.ts', import.meta.url), {
      model: o.model,
      tokenLatencyMs: o.tokenLatencyMs,
    });
    cleanups.push(() => sample.close());
    const agentLog = join(root, 'agent.log');
    const agentArgs = (p: number) => [
      'agent',
      '--upstream',
      sample.url,
      '--name',
      NAME,
      '--port',
      String(p),
      '--data-dir',
      agentDataDir,
      '--verifier',
      relay.url,
      '--token-file',
      join(root, 'agent-token'),
      '--tpm',
      `swtpm:host=127.0.0.1,port=${port}`,
      '--securityfs',
      securityfs.dir,
      ...(o.checkpointMs !== undefined ? ['--checkpoint-ms', String(o.checkpointMs)] : []),
    ];
    let agentGone = false;
    const startAgentChild = async (p: number): Promise<Child> => {
      const from = (await stat(agentLog).catch(() => undefined))?.size ?? 0;
      const child = await spawnTmb(agentArgs(p), { logPath: agentLog });
      agentGone = false;
      void child.exited.then(() => {
        if (agent === child) agentGone = true;
      });
      // Serve load only once the agent's AK is activated and its checkpoint key certified: until
      // then the verifier answers its receipts as an agent's without a TPM (L0, nothing pending).
      const attested =
        o.noEnrolmentWait === true ||
        (await until(async () => {
          const log = (await readFile(agentLog).catch(() => Buffer.alloc(0))).subarray(from).toString();
          return log.includes('"checkpoint_key_certified"') || log.includes('"checkpoint_key_unsupported"');
        }, 60_000));
      if (!attested) {
        await child.stop();
        throw new Error(`the agent did not finish its TPM enrolment within 60 s (${agentLog})`);
      }
      return child;
    };
    let agent: Child | undefined;
    cleanups.push(async () => agent?.stop(10_000));
    agent = await startAgentChild(0);
    const agentPort = Number(new URL(agent.ready.listening).port);
    return {
      root,
      agentUrl: agent.ready.listening,
      agentAlive: () => !agentGone,
      agentRssKiB: () => agent?.rssKiB() ?? Promise.resolve(null),
      restartAgent: async () => {
        await agent?.kill();
        agent = await startAgentChild(agentPort);
      },
      agentDb: join(agentDataDir, 'receipts.db'),
      agentDataDir,
      agentLog,
      tmpfs,
      verifierUrl: () => verifier.ready.listening,
      verifierDb,
      verifierLog,
      sampleUrl: sample.url,
      restartVerifier: async () => {
        await verifier.kill();
        verifier = await spawnTmb(verifierArgs(verifierPort), { logPath: verifierLog });
      },
      killSwtpm: () => swtpm.kill(),
      startSwtpm: async () => {
        swtpm = await spawnSwtpm(state, port);
      },
      fillDisk: async () => {
        // Remounting below what is in use fails; retry when the agent wrote in between.
        for (let attempt = 0; ; attempt++) {
          const fs = await statfs(agentDataDir);
          const usedKiB = Math.ceil(((fs.blocks - fs.bfree) * fs.bsize) / 1024);
          try {
            await run('mount', ['-o', `remount,size=${usedKiB}k`, agentDataDir]);
            return;
          } catch (err) {
            if (attempt >= 20) throw err;
          }
        }
      },
      freeDisk: async () => {
        await run('mount', ['-o', `remount,size=${o.tmpfsMiB}m`, agentDataDir]);
      },
      cutNetwork: () => relay.cut(),
      restoreNetwork: () => relay.restore(),
      close: closeAll,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

interface SwtpmChild {
  stop(): Promise<void>;
  kill(): Promise<void>;
}

/**
 * `swtpm socket` on `state` at 127.0.0.1:port (control port + 1), as startSwtpm of @tmb/agent/tpm
 * runs it but on a port chosen here, so that a restarted swtpm answers at the agent's TCTI.
 */
async function spawnSwtpm(state: SwtpmState, port: number): Promise<SwtpmChild> {
  const child: ChildProcess = spawn(
    'swtpm',
    [
      'socket',
      '--tpm2',
      '--tpmstate',
      `dir=${state.tpmDir}`,
      '--server',
      `type=tcp,port=${port},bindaddr=127.0.0.1`,
      '--ctrl',
      `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
      '--flags',
      'not-need-init,startup-clear',
    ],
    { stdio: 'ignore' },
  );
  let gone = false;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  void exited.then(() => {
    gone = true;
  });
  const listening = () =>
    new Promise<boolean>((ok) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        ok(true);
      });
      s.once('error', () => ok(false));
    });
  // A restart may find the port still held by the killed process for a moment.
  if (!(await until(async () => !gone && (await listening()), 10_000, 50))) {
    child.kill('SIGKILL');
    throw new Error(`swtpm did not listen on 127.0.0.1:${port}`);
  }
  const signal = async (sig: NodeJS.Signals) => {
    if (gone) return;
    child.kill(sig);
    await exited;
  };
  return { stop: () => signal('SIGTERM'), kill: () => signal('SIGKILL') };
}
