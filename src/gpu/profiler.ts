/** One timed dispatch. */
export interface ProfileEntry {
  label: string;
  ms: number;
}

/**
 * GPU timestamps around each dispatch (one compute pass per dispatch while profiling). Only made
 * when the device has 'timestamp-query'; otherwise the runtime times whole submissions on the CPU.
 */
export class Profiler {
  private readonly querySet: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private readonly capacity: number;
  private labels: string[] = [];
  readonly entries: ProfileEntry[] = [];

  constructor(
    private readonly device: GPUDevice,
    capacity = 512,
  ) {
    this.capacity = capacity;
    this.querySet = device.createQuerySet({ label: 'profiler', type: 'timestamp', count: capacity * 2 });
    this.resolve = device.createBuffer({
      label: 'profiler resolve',
      size: capacity * 16,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
  }

  /** Timestamp writes for the next dispatch, or undefined when this submission is full. */
  next(label: string): GPUComputePassTimestampWrites | undefined {
    const i = this.labels.length;
    if (i >= this.capacity) return undefined;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Resolves this submission's queries into `encoder`; returns the readback to await after submit. */
  finish(encoder: GPUCommandEncoder): (() => Promise<void>) | undefined {
    const n = this.labels.length;
    if (!n) return undefined;
    const labels = this.labels;
    this.labels = [];
    const staging = this.device.createBuffer({ label: 'profiler staging', size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolve, 0);
    encoder.copyBufferToBuffer(this.resolve, 0, staging, 0, n * 16);
    return async () => {
      await staging.mapAsync(GPUMapMode.READ);
      const t = new BigInt64Array(staging.getMappedRange().slice(0));
      staging.destroy();
      for (let i = 0; i < n; i++) this.entries.push({ label: labels[i], ms: Number(t[2 * i + 1] - t[2 * i]) / 1e6 });
    };
  }

  /** Total milliseconds per label, largest first. */
  summary(): { label: string; ms: number; calls: number }[] {
    const m = new Map<string, { ms: number; calls: number }>();
    for (const e of this.entries) {
      const s = m.get(e.label) ?? { ms: 0, calls: 0 };
      s.ms += e.ms;
      s.calls++;
      m.set(e.label, s);
    }
    return [...m].map(([label, s]) => ({ label, ...s })).sort((a, b) => b.ms - a.ms);
  }
}
