/**
 * One GPU reading. A superset of `@tmb/stats`'s Sample, so a window of these goes straight to
 * requestFeatures. Every reading is optional: the tool may not report it, or it was dropped.
 */
export interface GpuSample {
  /** Milliseconds on the agent's monotonic clock when the line was read (performance.now()). */
  t: number;
  /** GPU index as the tool numbers it (0 when there is one GPU and no index column). */
  gpu: number;
  /**
   * The GPU's UUID as the tool prints it (`GPU-xxxxxxxx-...`, or `MIG-...` for a MIG instance;
   * nvidia-smi `uuid`, dcgm-exporter's `UUID` label). The verifier fails a request whose window
   * shows two UUIDs (the GPU changed under the stream).
   */
  uuid?: string;
  /**
   * The GPU's product name as the tool prints it, e.g. `NVIDIA H100 80GB HBM3` (nvidia-smi
   * `name`, dcgm-exporter's `modelName` label). The verifier compares it with the profile's
   * gpuModel (docs/telemetry.md, "GPU identity").
   */
  name?: string;
  /** The tool's own timestamp, ms since 1970 read as UTC (nvidia-smi prints local time without a zone). */
  toolTime?: number;
  /** Board power, W (nvidia-smi power.draw: a 1 s average on recent drivers; DCGM POWER_USAGE). */
  powerW?: number;
  /** Instantaneous power, W (power.draw.instant, where the driver has it). */
  powerInstantW?: number;
  /** Cumulative energy since the driver loaded, J (reported in mJ by both tools). */
  energyJ?: number;
  /** GPU utilization, percent. */
  utilGpu?: number;
  /** Memory-controller utilization, percent. */
  utilMem?: number;
  memUsedMiB?: number;
  smClockMHz?: number;
  memClockMHz?: number;
  tempC?: number;
  /** DCGM profiling fields (DCGM_FI_PROF_*), by name without the prefix, e.g. SM_ACTIVE: 0.72. */
  prof?: Record<string, number>;
}

/** A process's CPU time and memory from /proc, for engines that run on the CPU. */
export interface ProcSample {
  t: number;
  pid: number;
  /** User plus system CPU time, seconds. */
  cpuSeconds: number;
  /** Resident set size, bytes. */
  rssBytes: number;
}
