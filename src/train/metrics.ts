// Asynchronous readback of a step's few numbers (loss sum, accuracy sum, gradient norm, clip
// scale, skipped flag). Each step copies them into its own small MAP_READ buffer at the end of its
// command buffer and maps it; the host goes on submitting the next step meanwhile. Buffers come
// back to a free list once read, so after the first few steps the ring stops growing: its size is
// the number of steps in flight.
import type { Runtime } from '../gpu/runtime.ts';

/** What one optimizer step reports, once the GPU has finished it. */
export interface StepMetrics {
  /** 1-based index of this optimizer step (the schedule's step index + 1). */
  step: number;
  /** Mean loss over the accumulated batch: Σ per-row losses / Σ count. */
  loss: number;
  /** Token accuracy (share of counted rows predicted right), when the head reports it. */
  accuracy?: number;
  /** Global L2 norm of the gradients before clipping. */
  gradNorm: number;
  /** Factor the gradients were multiplied by (min(1, maxNorm / norm); 0 when not finite). */
  clipScale: number;
  lr: number;
  /** Rows (tokens) the loss was normalised by. */
  tokens: number;
  micro: number;
  /** The loss or the gradient norm was NaN or infinite. */
  nonFinite: boolean;
  /** The update was not applied (non-finite): parameters and AdamW state are unchanged. */
  skipped: boolean;
}

/** Evaluation (no update): mean loss and accuracy over the batches. */
export interface EvalMetrics {
  loss: number;
  accuracy?: number;
  tokens: number;
}

const MAP_READ = 0x0001;
const COPY_DST = 0x0008;

export class StagingRing {
  private readonly free: GPUBuffer[] = [];
  private readonly all = new Set<GPUBuffer>();

  constructor(
    private readonly rt: Runtime,
    /** Bytes per buffer (a multiple of 4). */
    readonly bytes: number,
    initial = 4,
  ) {
    for (let i = 0; i < initial; i++) this.free.push(this.create());
  }

  private create(): GPUBuffer {
    const b = this.rt.device.createBuffer({ label: 'step metrics', size: this.bytes, usage: MAP_READ | COPY_DST });
    this.all.add(b);
    return b;
  }

  /** Buffers allocated so far (in flight or free). */
  get size(): number {
    return this.all.size;
  }

  /** A free buffer; a new one only when every buffer is in flight. */
  acquire(): GPUBuffer {
    return this.free.pop() ?? this.create();
  }

  /** Maps the buffer (after the copy into it has been submitted), returns its floats, recycles it. */
  async read(buf: GPUBuffer): Promise<Float32Array> {
    await this.rt.guard(buf.mapAsync(MAP_READ, 0, this.bytes));
    const out = new Float32Array(buf.getMappedRange(0, this.bytes).slice(0));
    buf.unmap();
    this.free.push(buf);
    return out;
  }

  destroy(): void {
    for (const b of this.all) b.destroy();
    this.all.clear();
    this.free.length = 0;
  }
}
