// Shared by the peer runners of `npm run bench -- train`. Each peer runs in its own child process
// (bench/train.ts spawns `node bench/peers/<name>.ts '<json>'`) so that two copies of tfjs, jax-js
// and our runtime never share module state or GPU memory, and the peer's peak memory is its own.
// The child inherits the parent's environment, so LP_NUM_THREADS and the adapter are the same.
import { nodeGPU, throttleDawnPolling } from '../../src/gpu/node.ts';

/** The model and schedule a peer trains; the same object for ours and every peer. */
export interface TrainBenchConfig {
  name: string;
  vocab: number; // V
  d: number; // C
  layers: number; // L
  heads: number; // H
  mlp: number; // F, the MLP's hidden width
  T: number;
  B: number;
  warmup: number; // untimed steps (the first compiles pipelines)
  steps: number; // timed steps
  /** Stop timing once this many ms have passed (after at least 2 timed steps). */
  budgetMs?: number;
}

export interface PeerResult {
  name: string;
  tokens_per_s: number;
  note: string;
  /** Median ms per timed step; tokens_per_s = B·T / step_ms. */
  step_ms?: number;
  mean_step_ms?: number;
  /** Model FLOPs of one step of the peer's own model (6·P_matmul·B·T + 12·L·B·T²·C). */
  flops_per_step?: number;
  /** Peak of live GPU buffer bytes in the peer's process (gpuMemory). */
  peak_bytes?: number;
  /** Compute dispatches and queue submissions per timed step. */
  dispatches_per_step?: number;
  submits_per_step?: number;
  losses?: number[];
}

/** Linear-layer weights of a llama block (q, k, v, o, gate, up, down) plus the LM head. */
export function llamaMatmulParams(c: TrainBenchConfig): number {
  return c.layers * (4 * c.d * c.d + 3 * c.d * c.mlp) + c.vocab * c.d;
}

/** 6·P_matmul·B·T for the matmuls, 12·L·B·T²·C for attention (QKᵀ and PV, forward and backward). */
export function stepFlops(pMatmul: number, c: Pick<TrainBenchConfig, 'layers' | 'd' | 'T' | 'B'>): number {
  return 6 * pMatmul * c.B * c.T + 12 * c.layers * c.B * c.T * c.T * c.d;
}

export { throttleDawnPolling };

/**
 * What every library does with the device, counted the same way by wrapping the WebGPU classes:
 * peak bytes of live GPU buffers (created and not yet destroyed; pools count, their buffers hold
 * memory), and compute dispatches and queue submissions. install() after the WebGPU globals exist
 * (nodeGPU) and before any allocation.
 */
export const gpuMemory = {
  live: 0,
  peak: 0,
  dispatches: 0,
  submits: 0,
  /** Starts a new peak from what is live now, and zeroes the counters. */
  reset(): void {
    this.peak = this.live;
    this.dispatches = 0;
    this.submits = 0;
  },
  install(): void {
    const G = globalThis as unknown as {
      GPUDevice: { prototype: GPUDevice }; GPUBuffer: { prototype: GPUBuffer }; GPUQueue: { prototype: GPUQueue };
      GPUComputePassEncoder: { prototype: GPUComputePassEncoder }; __pupilMemory?: boolean;
    };
    if (G.__pupilMemory) return;
    G.__pupilMemory = true;
    const sizes = new WeakMap<GPUBuffer, number>();
    const create = G.GPUDevice.prototype.createBuffer;
    const destroy = G.GPUBuffer.prototype.destroy;
    G.GPUDevice.prototype.createBuffer = function (this: GPUDevice, desc: GPUBufferDescriptor) {
      const buf = create.call(this, desc);
      sizes.set(buf, desc.size);
      gpuMemory.live += desc.size;
      gpuMemory.peak = Math.max(gpuMemory.peak, gpuMemory.live);
      return buf;
    };
    G.GPUBuffer.prototype.destroy = function (this: GPUBuffer) {
      const size = sizes.get(this);
      if (size !== undefined) {
        sizes.delete(this);
        gpuMemory.live -= size;
      }
      return destroy.call(this);
    };
    const pass = G.GPUComputePassEncoder.prototype;
    const dispatch = pass.dispatchWorkgroups, indirect = pass.dispatchWorkgroupsIndirect;
    pass.dispatchWorkgroups = function (this: GPUComputePassEncoder, ...a: Parameters<GPUComputePassEncoder['dispatchWorkgroups']>) {
      gpuMemory.dispatches++;
      return dispatch.apply(this, a);
    };
    pass.dispatchWorkgroupsIndirect = function (this: GPUComputePassEncoder, ...a: Parameters<GPUComputePassEncoder['dispatchWorkgroupsIndirect']>) {
      gpuMemory.dispatches++;
      return indirect.apply(this, a);
    };
    const submit = G.GPUQueue.prototype.submit;
    G.GPUQueue.prototype.submit = function (this: GPUQueue, buffers: Iterable<GPUCommandBuffer>) {
      gpuMemory.submits++;
      return submit.call(this, buffers);
    };
  },
};

/** Installs the WebGPU globals and a `navigator` the libraries look for, on our lavapipe adapter. */
export async function installNavigator(): Promise<GPU> {
  const gpu = await nodeGPU();
  gpuMemory.install();
  Object.defineProperty(globalThis, 'navigator', { value: { gpu, userAgent: 'node' }, configurable: true, writable: true });
  return gpu;
}

/** Deterministic token ids in [0, V): the same batch for every library. */
export function tokens(n: number, V: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % V;
  }
  return out;
}

/** ids (B, T) and next-token targets (B, T) from one stream of B·T + 1 tokens. */
export function batch(c: TrainBenchConfig, seed = 1): { ids: Int32Array; targets: Int32Array } {
  const ids = new Int32Array(c.B * c.T), targets = new Int32Array(c.B * c.T);
  const stream = tokens(c.B * (c.T + 1), c.vocab, seed);
  for (let b = 0; b < c.B; b++) {
    for (let t = 0; t < c.T; t++) {
      ids[b * c.T + t] = stream[b * (c.T + 1) + t];
      targets[b * c.T + t] = stream[b * (c.T + 1) + t + 1];
    }
  }
  return { ids, targets };
}

/** Entry point of a peer process: runs `fn` on the config in argv[2], prints one RESULT line. */
export async function peerMain(fn: (c: TrainBenchConfig) => Promise<PeerResult>): Promise<void> {
  const c = JSON.parse(process.argv[2]) as TrainBenchConfig;
  throttleDawnPolling();
  let result: PeerResult;
  try {
    result = await fn(c);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    result = { name: process.argv[1], tokens_per_s: 0, note: `failed: ${msg.split('\n')[0].slice(0, 300)}` };
  }
  console.log('RESULT ' + JSON.stringify(result));
  process.exit(0);
}

/** The median of `xs` (robust to another process briefly taking the shared cores). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Wall-clock timing of `steps` calls after `warmup`; `step` must finish its step (read the loss).
 * Returns the median and mean ms per step.
 */
export async function timeSteps(c: TrainBenchConfig, step: () => Promise<number>, log: (s: string) => void): Promise<{ ms: number; mean: number; losses: number[]; perStep: { dispatches: number; submits: number } }> {
  const losses: number[] = [];
  for (let i = 0; i < c.warmup; i++) {
    const t0 = performance.now();
    losses.push(await step());
    log(`warmup ${i}: ${(performance.now() - t0).toFixed(0)} ms, loss ${losses.at(-1)!.toFixed(4)}`);
  }
  const times: number[] = [];
  const { dispatches, submits } = gpuMemory;
  const start = performance.now();
  for (let i = 0; i < c.steps; i++) {
    const t0 = performance.now();
    losses.push(await step());
    times.push(performance.now() - t0);
    if (c.budgetMs && i >= 1 && performance.now() - start > c.budgetMs) break;
  }
  const ms = median(times), mean = times.reduce((a, b) => a + b, 0) / times.length;
  const perStep = { dispatches: (gpuMemory.dispatches - dispatches) / times.length, submits: (gpuMemory.submits - submits) / times.length };
  log(`timed ${times.length} steps: median ${ms.toFixed(0)} ms/step (${times.map((t) => t.toFixed(0)).join(', ')}), last loss ${losses.at(-1)!.toFixed(4)}`);
  return { ms, mean, losses, perStep };
}

export const logTo = (name: string) => (s: string) => process.stderr.write(`  [${name}] ${s}\n`);
