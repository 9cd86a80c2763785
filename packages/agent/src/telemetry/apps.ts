import { TelemetryCounts } from './counts.ts';
import { headerName, parseNumericCell } from './fields.ts';

/** A compute process on a GPU, from `nvidia-smi --query-compute-apps=...`. */
export interface ComputeApp {
  pid: number;
  processName: string;
  /** GPU memory the process uses, MiB; absent when nvidia-smi printed [N/A] (common without root in containers). */
  usedMemoryMiB?: number;
  gpuUuid?: string;
}

/** Header names nvidia-smi prints for each query field (`used_memory` prints as `used_gpu_memory`). */
const COLUMN: Readonly<Record<string, 'pid' | 'process_name' | 'used_memory' | 'gpu_uuid'>> = {
  pid: 'pid',
  process_name: 'process_name',
  name: 'process_name',
  used_memory: 'used_memory',
  used_gpu_memory: 'used_memory',
  gpu_uuid: 'gpu_uuid',
};

/**
 * Parses the output of `nvidia-smi --query-compute-apps=pid,process_name,used_memory
 * --format=csv[,noheader][,nounits]`. With a header the columns come from it; without, from
 * `fields`. Never throws: bad lines are counted and dropped. A process name may itself contain
 * ", " (nvidia-smi does not quote), so extra cells are joined back into the name.
 */
export function parseComputeApps(
  text: string,
  fields: readonly string[] = ['pid', 'process_name', 'used_memory'],
): { apps: ComputeApp[]; counts: TelemetryCounts } {
  const counts = new TelemetryCounts();
  const apps: ComputeApp[] = [];
  let cols = fields.map((f) => COLUMN[f]);
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    let cells = line.split(', ').map((c) => c.trim());
    if (COLUMN[headerName(cells[0]!)] !== undefined) {
      cols = cells.map((c) => COLUMN[headerName(c)]);
      continue;
    }
    const nameAt = cols.indexOf('process_name');
    if (cells.length > cols.length && nameAt !== -1) {
      const extra = cells.length - cols.length;
      cells = [
        ...cells.slice(0, nameAt),
        cells.slice(nameAt, nameAt + extra + 1).join(', '),
        ...cells.slice(nameAt + extra + 1),
      ];
    }
    if (cells.length !== cols.length) {
      counts.add(cells.length < cols.length ? 'missing-column' : 'extra-column');
      continue;
    }
    const app: Partial<ComputeApp> = {};
    let ok = true;
    cols.forEach((c, i) => {
      const cell = cells[i]!;
      if (c === 'process_name') app.processName = cell;
      else if (c === 'gpu_uuid') app.gpuUuid = cell;
      else if (c === 'pid') {
        if (/^\d{1,10}$/.test(cell)) app.pid = Number(cell);
        else {
          counts.add('not-a-number');
          ok = false;
        }
      } else if (c === 'used_memory') {
        const v = parseNumericCell(cell, 'MiB');
        if (v.ok) app.usedMemoryMiB = v.value;
        else counts.add(v.reason);
      }
    });
    if (ok && app.pid !== undefined && app.processName !== undefined) apps.push(app as ComputeApp);
    else if (ok) counts.add('missing-column');
  }
  return { apps, counts };
}
