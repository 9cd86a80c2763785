import { execFile } from 'node:child_process';
import { TpmDriverError } from './errors.ts';

/** What one tool run printed. */
export interface ToolOutput {
  stdout: string;
  stderr: string;
}

/** Options of one tool run. */
export interface ToolOptions {
  /** TPM2TOOLS_TCTI for the run; left out, the tool runs without a TPM (`-T none` tools). */
  tcti?: string;
  /** Kill the tool after this many ms (default 10,000: a TPM command takes well under a second). */
  timeoutMs?: number;
  cwd?: string;
  /** Bytes written to the tool's standard input (then closed): secrets go here, never in argv. */
  input?: Uint8Array;
}

/**
 * Runs one program (a tpm2-tools binary, swtpm_setup) with a timeout, never through a shell.
 * @throws TpmDriverError TPM_UNAVAILABLE when the program is not installed, TPM_TOOL_TIMEOUT when
 *   it ran past the timeout (it is killed), TPM_TOOL_FAILED when it exited non-zero
 */
export function runTool(file: string, args: readonly string[], opts: ToolOptions = {}): Promise<ToolOutput> {
  return run(file, args, opts).then(({ stdout, stderr }) => ({ stdout: stdout.toString('utf8'), stderr }));
}

/**
 * runTool for a tool whose standard output is binary (tpm2_send's TPM response).
 * @throws TpmDriverError as runTool
 */
export async function runToolBytes(
  file: string,
  args: readonly string[],
  opts: ToolOptions = {},
): Promise<Uint8Array> {
  const { stdout } = await run(file, args, opts);
  return new Uint8Array(stdout);
}

function run(
  file: string,
  args: readonly string[],
  opts: ToolOptions,
): Promise<{ stdout: Buffer; stderr: string }> {
  const timeout = opts.timeoutMs ?? 10_000;
  const env = { ...process.env };
  if (opts.tcti !== undefined) env.TPM2TOOLS_TCTI = opts.tcti;
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { env, timeout, killSignal: 'SIGKILL', cwd: opts.cwd, maxBuffer: 4 << 20, encoding: 'buffer' },
      (err, stdout, stderrBytes) => {
        const stderr = stderrBytes.toString('utf8');
        if (err === null) return resolve({ stdout, stderr });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string };
        const cmd = [file, ...args].join(' ');
        if (e.code === 'ENOENT')
          reject(
            new TpmDriverError(
              'TPM_UNAVAILABLE',
              `${file} is not installed (install tpm2-tools / swtpm-tools)`,
            ),
          );
        else if (e.killed === true || e.signal === 'SIGKILL')
          reject(new TpmDriverError('TPM_TOOL_TIMEOUT', `${cmd} ran past ${timeout} ms and was killed`));
        else
          reject(
            new TpmDriverError(
              'TPM_TOOL_FAILED',
              `${cmd} failed: ${stderr.trim().split('\n').slice(-3).join(' / ')}`,
              {
                cause: err,
              },
            ),
          );
      },
    );
    // Always end standard input: a tool reading it must not wait for more.
    child.stdin?.on('error', () => {}); // a tool that exits without reading it: EPIPE, not ours
    child.stdin?.end(opts.input === undefined ? undefined : Buffer.from(opts.input));
  });
}
