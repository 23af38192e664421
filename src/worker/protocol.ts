// Types that cross the Worker boundary. The UI imports these, never src/gpu.

export interface KernelCheck {
  name: string;
  shape: string;
  ms: number;
  gflops: number;
  /** Largest absolute difference from the CPU result. */
  maxError: number;
  ok: boolean;
}

export interface AdapterReport {
  info: { vendor: string; architecture: string; device: string; description: string };
  features: { f16: boolean; subgroups: boolean; timestamps: boolean };
  limits: Record<string, number>;
  kernel: KernelCheck;
}

/** An error as it reaches the page: `advice` is set when the user can do something about it. */
export interface EngineErrorInfo {
  name: string;
  message: string;
  advice?: string;
}

/** What the engine Worker exposes through comlink. */
export interface EngineApi {
  /** Acquires the device, reports the adapter and runs a kernel checked against the CPU. */
  probe(): Promise<AdapterReport>;
}
