/**
 * A stand-in for `nvidia-smi --query-gpu=... --format=csv,noheader,nounits -lms N`, for tests
 * and bench/telemetry.bench.ts on machines without a GPU: prints one CSV line per period in the
 * noheader,nounits layout of vectors/nvsmi-query-gpu-noheader-nounits.csv for the fields asked.
 * FAKE_EXIT_AFTER=n exits after n lines (a crashing tool); FAKE_GPU_NAME / FAKE_GPU_UUID name the GPU
 * (default an H100's name and a UUID in the form NVML prints).
 */
const args = process.argv.slice(2);
const lms = Number(args[args.indexOf('-lms') + 1] ?? 100);
const fields = (args.find((a) => a.startsWith('--query-gpu=')) ?? '--query-gpu=power.draw')
  .slice(12)
  .split(',');
const exitAfter = Number(process.env.FAKE_EXIT_AFTER ?? Number.POSITIVE_INFINITY);
let n = 0;
let energy = 319159391;
const pad = (x: number, w = 2) => String(x).padStart(w, '0');
const stamp = (d: Date) =>
  `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
const value = (f: string): string => {
  switch (f) {
    case 'timestamp':
      return stamp(new Date());
    case 'index':
      return '0';
    case 'uuid':
      return process.env.FAKE_GPU_UUID ?? 'GPU-34319582-d595-d1c7-d1d2-179bcfa61660';
    case 'name':
      return process.env.FAKE_GPU_NAME ?? 'NVIDIA H100 80GB HBM3';
    case 'power.draw':
      return (400 + (n % 7)).toFixed(2);
    case 'total_energy_consumption':
      energy += 40000;
      return String(energy);
    case 'utilization.gpu':
      return String(90 + (n % 10));
    case 'memory.used':
      return '70000';
    default:
      return '1';
  }
};
const timer = setInterval(() => {
  process.stdout.write(`${fields.map(value).join(', ')}\n`);
  if (++n >= exitAfter) {
    clearInterval(timer);
    process.exit(1);
  }
}, lms);
process.on('SIGTERM', () => process.exit(0));
