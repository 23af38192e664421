import { acquireDevice, type AcquireOptions, type GpuFeatures } from './device.ts';
import { DeviceLostError } from './errors.ts';
import { fromF16, toF16 } from './half.ts';
import { PipelineCache, type PipelineKey } from './pipelines.ts';
import { BufferPool } from './pool.ts';
import { Profiler } from './profiler.ts';
import { byteSize, numel, shapeStr, type DType, type Tensor } from './tensor.ts';

/** One compute dispatch, ready to encode: built once, replayed as often as needed. */
export interface Dispatch {
  readonly label: string;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
  /** Buffers this dispatch owns (its uniform parameters); destroyed by `Runtime.release`. */
  readonly owned: GPUBuffer[];
}

/**
 * Buffer commands that a planned step needs between dispatches: copying a tensor (into a KV
 * cache, a saved activation) and zeroing one (gradients at the start of an accumulated batch).
 */
export interface BufferCommand {
  readonly kind: 'copy' | 'clear';
  readonly label: string;
  readonly dst: Tensor;
  readonly src?: Tensor;
}

/** What `run` encodes: compute dispatches and buffer commands, in order. */
export type Step = Dispatch | BufferCommand;

/** A uniform parameter: its WGSL type and value. Every field is one 4-byte word, in struct order. */
export type Param = ['u32' | 'i32' | 'f32', number];

export interface KernelSpec {
  key: PipelineKey;
  /** Full WGSL source (already specialised for `key.dtype`). */
  code: string;
  entryPoint?: string;
  /**
   * Storage bindings of @group(0) by binding number. List only what this entry point uses: the
   * pipeline layout is derived from the shader, and unused bindings are not part of it.
   */
  bindings: Record<number, Tensor | GPUBufferBinding>;
  /** Uniform struct fields, bound at `paramsBinding` (default 0). */
  params?: Param[];
  paramsBinding?: number;
  workgroups: readonly [number, number?, number?];
}

export type TypedData = Float32Array | Int32Array | Uint32Array | Uint16Array;

const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST, without needing the globals

/**
 * The GPU as Pupil's engine sees it: a device with its real limits and features, a pipeline cache,
 * a buffer pool, readback and profiling. Ops build `Dispatch`es through `kernel()`; `run()` encodes
 * a list of them into one compute pass and submits it.
 */
export class Runtime {
  readonly pipelines: PipelineCache;
  readonly pool: BufferPool;
  /** Validation and out-of-memory errors the device reported without an error scope. */
  readonly errors: string[] = [];
  profiler?: Profiler;
  private pendingProfiles: Promise<void>[] = [];
  private lostError?: DeviceLostError;
  private readonly lost: Promise<never>;
  private readonly lostListeners = new Set<(e: DeviceLostError) => void>();

  constructor(
    readonly device: GPUDevice,
    readonly features: GpuFeatures,
    readonly adapterInfo: { vendor: string; architecture: string; device: string; description: string } = {
      vendor: '',
      architecture: '',
      device: '',
      description: '',
    },
  ) {
    this.pipelines = new PipelineCache(device);
    this.pool = new BufferPool(device);
    this.lost = device.lost.then((info) => {
      this.lostError = new DeviceLostError(info.reason ?? 'unknown', info.message ?? '');
      for (const l of this.lostListeners) l(this.lostError);
      throw this.lostError;
    });
    this.lost.catch(() => {});
    device.addEventListener?.('uncapturederror', (ev: Event) => {
      const err = (ev as GPUUncapturedErrorEvent).error;
      this.errors.push(err?.message ?? String(err));
    });
  }

  /**
   * A software adapter (lavapipe, SwiftShader): a few CPU cores running one invocation per SIMD
   * lane. Kernels pick other tile and workgroup shapes there (see each op's tuning).
   */
  get isCpuAdapter(): boolean {
    const i = this.adapterInfo;
    return /llvmpipe|lavapipe|swiftshader|software/i.test(`${i.vendor} ${i.architecture} ${i.device} ${i.description}`);
  }

  /** The smallest subgroup the device may run (its adapter info), or 0 when it does not say. */
  get minSubgroupSize(): number {
    const info = (this.device as unknown as { adapterInfo?: { subgroupMinSize?: number } }).adapterInfo;
    return info?.subgroupMinSize ?? 0;
  }

  /** Acquires a device (page, worker, or Node with `{ gpu: await nodeGPU() }`). */
  static async create(opts: AcquireOptions = {}): Promise<Runtime> {
    const a = await acquireDevice(opts);
    return new Runtime(a.device, a.features, a.info);
  }

  get limits(): GPUSupportedLimits {
    return this.device.limits;
  }

  /** The reason the device was lost, once it has been. */
  get lostReason(): DeviceLostError | undefined {
    return this.lostError;
  }

  /** Calls `listener` when the device is lost (at most once). Returns an unsubscribe function. */
  onLost(listener: (e: DeviceLostError) => void): () => void {
    if (this.lostError) queueMicrotask(() => listener(this.lostError!));
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  /** Rejects instead of hanging if the device is lost while `p` is pending. */
  guard<T>(p: Promise<T>): Promise<T> {
    // Once the device is lost, `p` may still reject (an AbortError from mapAsync): that is not news.
    p.catch(() => {});
    if (this.lostError) return Promise.reject(this.lostError);
    return Promise.race([p, this.lost]);
  }

  // ---- tensors ---------------------------------------------------------------------------------

  /** A new tensor from the pool. Its contents are undefined unless `zero` is set. */
  tensor(shape: readonly number[], dtype: DType = 'f32', label = 'tensor', zero = false): Tensor {
    const bytes = Math.max(4, byteSize({ shape, dtype }));
    this.checkBindingSize(label, shape, bytes);
    const buffer = this.pool.acquire(bytes, STORAGE, label);
    const t: Tensor = { buffer, byteOffset: 0, shape: [...shape], dtype, label };
    if (zero) this.zero(t);
    return t;
  }

  /** A tensor holding `data` (f16 tensors take f32 values and convert them). */
  upload(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32', label = 'tensor'): Tensor {
    if (data.length !== numel(shape)) {
      throw new Error(`upload ${label}: ${data.length} values do not fill shape ${shapeStr(shape)} (${numel(shape)} elements)`);
    }
    const t = this.tensor(shape, dtype, label);
    this.write(t, data);
    return t;
  }

  write(t: Tensor, data: ArrayLike<number>): void {
    const typed = toTyped(data, t.dtype);
    const bytes = new Uint8Array(typed.buffer as ArrayBuffer, typed.byteOffset, typed.byteLength);
    if (bytes.byteLength % 4 === 0) return this.device.queue.writeBuffer(t.buffer, t.byteOffset, bytes);
    // writeBuffer moves whole words: an odd count of f16 values gets a zero pad.
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    this.device.queue.writeBuffer(t.buffer, t.byteOffset, padded);
  }

  /** Fills the tensor with zeros (encoded now, in order with other submitted work). */
  zero(t: Tensor): void {
    this.run(this.clear(t), `zero ${t.label}`);
  }

  /** Reads a tensor back: f32 and f16 as Float32Array, i32 as Int32Array, u32 as Uint32Array. */
  async read(t: Tensor): Promise<Float32Array | Int32Array | Uint32Array> {
    const size = byteSize(t);
    const staging = this.pool.acquire(size, 0x01 | 0x08 /* MAP_READ | COPY_DST */, 'readback');
    const enc = this.device.createCommandEncoder({ label: `read ${t.label}` });
    enc.copyBufferToBuffer(t.buffer, t.byteOffset, staging, 0, size);
    this.device.queue.submit([enc.finish()]);
    await this.guard(staging.mapAsync(0x0001 /* GPUMapMode.READ */, 0, size));
    const raw = staging.getMappedRange(0, size).slice(0);
    staging.unmap();
    this.pool.release(staging);
    const n = numel(t.shape);
    switch (t.dtype) {
      case 'f32': return new Float32Array(raw, 0, n);
      case 'f16': return fromF16(new Uint16Array(raw, 0, n));
      case 'i32': return new Int32Array(raw, 0, n);
      case 'u32': return new Uint32Array(raw, 0, n);
    }
  }

  free(...tensors: Tensor[]): void {
    for (const t of tensors) this.pool.release(t.buffer);
  }

  // ---- kernels ---------------------------------------------------------------------------------

  /** Builds a dispatch: pipeline from the cache, its uniform buffer and its bind group. */
  kernel(spec: KernelSpec): Dispatch {
    const pipeline = this.pipelines.get(spec.key, spec.code, spec.entryPoint ?? 'main');
    const entries: GPUBindGroupEntry[] = [];
    const owned: GPUBuffer[] = [];
    if (spec.params?.length) {
      const words = spec.params.length;
      const data = new ArrayBuffer(Math.ceil(words / 4) * 16);
      const view = new DataView(data);
      spec.params.forEach(([type, v], i) => {
        if (type === 'f32') view.setFloat32(4 * i, v, true);
        else if (type === 'i32') view.setInt32(4 * i, v, true);
        else view.setUint32(4 * i, v, true);
      });
      const ub = this.device.createBuffer({ label: `${spec.key.kernel}.${spec.key.variant} params`, size: data.byteLength, usage: 0x40 | 0x08 /* UNIFORM | COPY_DST */ });
      this.device.queue.writeBuffer(ub, 0, data);
      owned.push(ub);
      entries.push({ binding: spec.paramsBinding ?? 0, resource: { buffer: ub } });
    }
    for (const [b, r] of Object.entries(spec.bindings)) {
      const resource: GPUBufferBinding = 'shape' in r ? { buffer: r.buffer, offset: r.byteOffset, size: Math.max(4, byteSize(r)) } : r;
      entries.push({ binding: Number(b), resource });
    }
    const label = `${spec.key.kernel}.${spec.key.variant}`;
    const bindGroup = this.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
    const [x, y = 1, z = 1] = spec.workgroups;
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) throw new Error(`${label}: dispatch (${x}, ${y}, ${z}) exceeds maxComputeWorkgroupsPerDimension ${max}`);
    return { label, pipeline, bindGroup, workgroups: [x, y, z], owned };
  }

  /**
   * Encodes the dispatches in order into one compute pass (one pass each while profiling) and
   * submits them. Writes of one dispatch are visible to the next.
   */
  run(steps: Step | readonly Step[], label = 'run'): void {
    const list = Array.isArray(steps) ? (steps as readonly Step[]) : [steps as Step];
    const enc = this.device.createCommandEncoder({ label });
    let pass: GPUComputePassEncoder | undefined;
    for (const s of list) {
      if ('kind' in s) {
        pass?.end();
        pass = undefined;
        encodeCommand(enc, s);
      } else if (this.profiler) {
        const p = enc.beginComputePass({ label: s.label, timestampWrites: this.profiler.next(s.label) });
        encodeOne(p, s);
        p.end();
      } else {
        pass ??= enc.beginComputePass({ label });
        encodeOne(pass, s);
      }
    }
    pass?.end();
    this.submit(enc);
  }

  /**
   * Timestamp writes for a compute pass encoded outside run() (an indirect dispatch), so that it
   * shows in the profile; undefined when not profiling. Submit its encoder with submit().
   */
  timestampWrites(label: string): GPUComputePassTimestampWrites | undefined {
    return this.profiler?.next(label);
  }

  /** Submits an encoder, resolving the profiler's timestamps of its passes when profiling. */
  submit(enc: GPUCommandEncoder): void {
    const finish = this.profiler?.finish(enc);
    this.device.queue.submit([enc.finish()]);
    if (finish) this.pendingProfiles.push(this.guard(finish()));
  }

  /** A step that copies `src` into `dst` (same byte size; views at offsets allowed). */
  copy(dst: Tensor, src: Tensor, label = `copy ${src.label} -> ${dst.label}`): BufferCommand {
    if (byteSize(src) !== byteSize(dst)) {
      throw new Error(`${label}: ${src.label} ${shapeStr(src.shape)} ${src.dtype} and ${dst.label} ${shapeStr(dst.shape)} ${dst.dtype} differ in size`);
    }
    return { kind: 'copy', label, dst, src };
  }

  /** A step that zeroes `dst`. */
  clear(dst: Tensor, label = `clear ${dst.label}`): BufferCommand {
    return { kind: 'clear', label, dst };
  }

  /** Runs dispatches once and frees what they own: for one-off (eager) use. */
  once(dispatches: Step | readonly Step[], label = 'once'): void {
    this.run(dispatches, label);
    this.release(dispatches);
  }

  /** Destroys the uniform buffers the dispatches own (safe right after submit). */
  release(steps: Step | readonly Step[]): void {
    const list = Array.isArray(steps) ? (steps as readonly Step[]) : [steps as Step];
    for (const d of list) if (!('kind' in d)) for (const b of d.owned) b.destroy();
  }

  /** Resolves when the GPU has finished everything submitted so far (rejects if the device is lost). */
  async sync(): Promise<void> {
    await this.guard(this.device.queue.onSubmittedWorkDone());
    if (this.pendingProfiles.length) {
      const p = this.pendingProfiles;
      this.pendingProfiles = [];
      await Promise.all(p);
    }
  }

  /** Starts per-dispatch GPU timing (needs 'timestamp-query'); returns false when unavailable. */
  startProfiling(): boolean {
    if (!this.features.timestamps) return false;
    this.profiler ??= new Profiler(this.device);
    return true;
  }

  stopProfiling(): void {
    this.profiler = undefined;
  }

  // ---- validation ------------------------------------------------------------------------------

  /** Throws if a buffer of `bytes` cannot be bound as storage on this device. */
  checkBindingSize(label: string, shape: readonly number[], bytes: number): void {
    const max = Math.min(this.limits.maxStorageBufferBindingSize, this.limits.maxBufferSize);
    if (bytes > max) {
      throw new Error(`${label}: a buffer of shape ${shapeStr(shape)} needs ${bytes} bytes, over this device's limit of ${max} bytes (maxStorageBufferBindingSize)`);
    }
  }

  destroy(): void {
    this.pool.trim();
    this.device.destroy();
  }
}

function encodeCommand(enc: GPUCommandEncoder, c: BufferCommand): void {
  if (c.kind === 'clear') enc.clearBuffer(c.dst.buffer, c.dst.byteOffset, byteSize(c.dst));
  else enc.copyBufferToBuffer(c.src!.buffer, c.src!.byteOffset, c.dst.buffer, c.dst.byteOffset, byteSize(c.dst));
}

function encodeOne(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
}

function toTyped(data: ArrayLike<number>, dtype: DType): TypedData {
  switch (dtype) {
    case 'f32': return data instanceof Float32Array ? data : Float32Array.from(data);
    case 'f16': return toF16(data);
    case 'i32': return data instanceof Int32Array ? data : Int32Array.from(data);
    case 'u32': return data instanceof Uint32Array ? data : Uint32Array.from(data);
  }
}

/**
 * Splits `count` workgroups over x and y so neither exceeds the per-dimension limit. Shaders
 * recover the linear index as `wid.x + wid.y * nwg.x` and skip indices >= count.
 */
export function grid(count: number, max = 65535): [number, number, number] {
  if (count <= max) return [Math.max(1, count), 1, 1];
  const y = Math.ceil(count / max);
  return [Math.ceil(count / y), y, 1];
}
