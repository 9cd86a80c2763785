import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { provisionSwtpm, type Swtpm, startSwtpm } from '@tmb/agent/tpm';
import { main } from '../../src/main.ts';
import { capture } from '../io.ts';

// Issue 10, "No stuck states": `tmb agent` run as its own process. A start that fails (busy
// port, bad option, a step after the TPM was opened) exits non-zero with a clear message, by
// itself: nothing it started keeps the process alive. A stopped agent leaves no child behind.

const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;
/** Longest a child may take; a hung one is killed and the test fails. */
const BOUND_MS = 30_000;

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tmb-cli-agent-exit-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Resolves with the exit code; kills the child and rejects past BOUND_MS. */
  exited: Promise<number | null>;
}

function tmb(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tmb ${args.join(' ')} still running after ${BOUND_MS} ms; stderr: ${err}`));
    }, BOUND_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return { child, out: () => out, err: () => err, exited };
}

async function until(cond: () => boolean, what: string, ms = BOUND_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether a process runs (a zombie does not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const base = (name: string) => ['agent', '--upstream', 'http://127.0.0.1:9', '--name', name];

test('a busy port: exits 1 at once with the address and EADDRINUSE, before the TPM or the data dir is touched', async () => {
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
  const port = (busy.address() as { port: number }).port;
  try {
    const data = join(dir, 'busy');
    // This TPM does not exist: had it been opened first, the error would be TPM_UNAVAILABLE.
    const run = tmb([
      ...base('busy'),
      '--port',
      String(port),
      '--data-dir',
      data,
      '--tpm',
      `unix:${join(dir, 'no.sock')}`,
    ]);
    assert.equal(await run.exited, 1, run.err());
    assert.match(
      run.err(),
      new RegExp(
        `cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use by another program \\(EADDRINUSE\\)`,
      ),
    );
    assert.doesNotMatch(run.err(), /TPM/);
    assert.ok(!existsSync(data), 'the data dir is made only after the port is bound');
  } finally {
    await new Promise<void>((r) => busy.close(() => r()));
  }
});

test('options out of range are refused with the flag named (exit 2), before anything starts', async () => {
  const cases: [string[], RegExp][] = [
    [['--port', '70000'], /--port must be an integer 0\.\.65535, got "70000"/],
    [['--port=-1'], /--port must be an integer 0\.\.65535/],
    [['--checkpoint-ms', '0'], /--checkpoint-ms must be an integer >= 1/],
    [['--telemetry-ms', '0', '--nvidia-smi', 'nvidia-smi'], /--telemetry-ms must be an integer >= 1/],
    [['--max-body', '1e3'], /--max-body must be an integer >= 1/],
    [['--tpm-pcr', '16'], /--tpm-pcr must be an integer 8\.\.15/],
    [['--metrics-listen', '127.0.0.1'], /--metrics-listen is HOST:PORT/],
    [['--metrics-listen', '127.0.0.1:99999'], /--metrics-listen must be an integer 0\.\.65535/],
  ];
  const data = join(dir, 'range');
  // In this process (main, as the bin runs it): a usage error returns before anything is started.
  for (const [flags, message] of cases) {
    const io = capture();
    assert.equal(
      await main([...base('range'), '--data-dir', data, '--tpm', 'none', ...flags], io),
      2,
      flags.join(' '),
    );
    assert.match(io.err, message);
    assert.ok(!existsSync(data));
  }
  // As its own process: the exit status and the message.
  const run = tmb([...base('range'), '--data-dir', data, '--tpm', 'none', '--port', '70000']);
  assert.equal(await run.exited, 2, run.err());
  assert.match(run.err(), /--port must be an integer 0\.\.65535/);
});

test('a start that fails after the TPM was opened and the key bound: exits 1 with the reason, leaving no TPM object loaded', async () => {
  const state = await provisionSwtpm(join(dir, 'swtpm'));
  const tpm: Swtpm = await startSwtpm(state);
  try {
    assert.equal(tpm.tcti.kind, 'swtpm');
    const tcti = `swtpm:host=127.0.0.1,port=${tpm.tcti.kind === 'swtpm' ? tpm.tcti.port : 0}`;
    const run = tmb([
      ...base('late'),
      '--data-dir',
      join(dir, 'late'),
      '--tpm',
      tcti,
      '--no-kernel-ima',
      '--weights',
      join(dir, 'no-such-weights.gguf'),
    ]);
    assert.equal(await run.exited, 1, run.err());
    assert.match(run.err(), /cannot measure weights .*no-such-weights\.gguf/);
    // It got as far as the TPM: the key event is in its measurement log.
    assert.ok(existsSync(join(dir, 'late', 'measure-pcr15.bin')));
    for (const kind of ['handles-transient', 'handles-loaded-session']) {
      const { stdout } = await execFileText('tpm2_getcap', [kind], { TPM2TOOLS_TCTI: tcti });
      assert.equal(stdout.trim(), '', `${kind} after exit: ${stdout}`);
    }
  } finally {
    await tpm.stop();
  }
});

test('SIGTERM: the agent stops, exits 0 and leaves no telemetry tool running', async () => {
  const pids = join(dir, 'pids');
  const smi = join(dir, 'fake-nvidia-smi');
  // Records each start, then stays silent (the collector restarts a silent tool: each start counts).
  await writeFile(smi, `#!/bin/sh\necho $$ >> "${pids}"\nexec sleep 600\n`);
  await chmod(smi, 0o755);
  const run = tmb([
    ...base('term'),
    '--data-dir',
    join(dir, 'term'),
    '--tpm',
    'none',
    '--nvidia-smi',
    smi,
    '--metrics-listen',
    '127.0.0.1:0',
  ]);
  await until(() => run.out().includes('"listening"'), 'ready line');
  const ready = JSON.parse(run.out().split('\n')[0]!);
  assert.match(ready.metrics, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = await fetch(`${ready.listening}/healthz`).then((r) => r.json());
  assert.equal(health.status, 'degraded', 'nothing listens on the upstream port');
  await until(() => existsSync(pids), 'the telemetry tool started');
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0, run.err());
  const started = (await readFile(pids, 'utf8')).trim().split('\n').map(Number);
  assert.ok(started.length >= 1);
  for (const pid of started) assert.ok(!alive(pid), `telemetry tool ${pid} still runs`);
  await assert.rejects(fetch(`${ready.listening}/healthz`), 'the listener is closed');
});

function execFileText(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { ...process.env, ...env }, timeout: 10_000 }, (err, stdout) =>
      err ? reject(err) : resolve({ stdout }),
    );
  });
}
