import { type ComputeApp, parseComputeApps } from '../apps.ts';
import type { TelemetryCounts } from '../counts.ts';
import { defaultSpawn, type SpawnFn } from './spawn.ts';

/** Options of queryComputeApps. */
export interface ComputeAppsOptions {
  /** Default `nvidia-smi`. */
  command?: string;
  /** Default 5 s; the tool is killed after it. */
  timeoutMs?: number;
  /** Largest output read, bytes. Default 1 MiB. */
  maxBytes?: number;
  spawn?: SpawnFn;
}

/**
 * Runs `nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader,nounits`
 * once: the processes on the GPUs and their memory. Never rejects: a failure, timeout or
 * oversized output gives no apps and a counted reason.
 */
export function queryComputeApps(
  o: ComputeAppsOptions = {},
): Promise<{ apps: ComputeApp[]; counts: TelemetryCounts }> {
  const fields = ['pid', 'process_name', 'used_memory'];
  const args = [`--query-compute-apps=${fields.join(',')}`, '--format=csv,noheader,nounits'];
  const maxBytes = o.maxBytes ?? 1 << 20;
  return new Promise((resolve) => {
    let text = '';
    let failure: 'fetch-failed' | 'timeout' | 'too-large' | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const r = parseComputeApps(failure === undefined ? text : '', fields);
      if (failure !== undefined) r.counts.add(failure);
      resolve(r);
    };
    let child: ReturnType<SpawnFn>;
    try {
      child = (o.spawn ?? defaultSpawn)(o.command ?? 'nvidia-smi', args);
    } catch {
      const r = parseComputeApps('', fields);
      r.counts.add('fetch-failed');
      resolve(r);
      return;
    }
    const timer = setTimeout(() => {
      failure = 'timeout';
      child.kill('SIGKILL');
      finish();
    }, o.timeoutMs ?? 5000);
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (c: string) => {
      text += c;
      if (text.length > maxBytes) {
        failure = 'too-large';
        child.kill('SIGKILL');
        finish();
      }
    });
    child.on('error', () => {
      failure = 'fetch-failed';
      finish();
    });
    // 'close', not 'exit': stdout is fully read by then.
    child.on('close', (code) => {
      if (code !== 0 && failure === undefined) failure = 'fetch-failed';
      finish();
    });
  });
}
