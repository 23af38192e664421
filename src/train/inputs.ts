// The GPU side of a data Batch: the (B, T) integer tensors a model graph reads, planned once per
// (B, T) and rewritten before every micro-batch with rt.write (queued, so the write lands after the
// previous micro-batch has consumed the old contents and before the next one runs).
// Letters: B batch rows, T sequence, N = B·T tokens, V vocabulary, P positions of a learned table.
import type { Runtime } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { Batch } from '../data/batch.ts';
import type { BatchInputs } from '../models/architecture.ts';
import type { ModelConfig } from '../models/config.ts';
import { IGNORE_INDEX } from '../ops/cross_entropy.ts';
import { embeddingBackwardIndex, embeddingIndexShape } from '../ops/embedding.ts';

/** What the uploaded inputs depend on besides (B, T). */
export interface InputSpec {
  vocabSize: number; // V
  /** P, when the model has a learned position table (gpt2's wpe) and needs positionIndex. */
  learnedPositions?: number;
}

export function inputSpecOf(cfg: ModelConfig): InputSpec {
  return { vocabSize: cfg.vocabSize, learnedPositions: cfg.positions === 'learned' ? cfg.maxPositions : undefined };
}

/** Every input tensor for (B, T), by name, all i32: for the memory plan. */
export function inputShapes(B: number, T: number, spec: InputSpec): Record<string, number[]> {
  const N = B * T;
  const shapes: Record<string, number[]> = {
    ids: [B, T],
    targets: [B, T],
    positions: [B, T],
    segmentIds: [B, T],
    embeddingIndex: embeddingIndexShape(N),
  };
  if (spec.learnedPositions) shapes.positionIndex = embeddingIndexShape(N);
  return shapes;
}

/** Allocates the input tensors for (B, T). */
export function allocInputs(rt: Runtime, B: number, T: number, spec: InputSpec): BatchInputs {
  const s = inputShapes(B, T, spec);
  const t = (name: string): Tensor => rt.tensor(s[name], 'i32', `inputs.${name}`, true);
  return {
    ids: t('ids'),
    targets: t('targets'),
    positions: t('positions'),
    segmentIds: t('segmentIds'),
    embeddingIndex: t('embeddingIndex'),
    ...(spec.learnedPositions ? { positionIndex: t('positionIndex') } : {}),
  };
}

export function freeInputs(rt: Runtime, inputs: BatchInputs): void {
  rt.free(inputs.ids, inputs.targets, inputs.positions, inputs.segmentIds, inputs.embeddingIndex, ...(inputs.positionIndex ? [inputs.positionIndex] : []));
}

/**
 * Uploads batches into planned inputs. A batch smaller than the plan (fewer rows, or shorter rows
 * when batches are padded to their longest example) is padded with rows and columns that carry
 * no loss (target -100) and belong to no segment (0), so one plan serves every batch of an epoch.
 */
export class InputWriter {
  private readonly N: number;
  // Host staging arrays, allocated once: padding a batch then costs no garbage.
  private readonly ids: Int32Array;
  private readonly targets: Int32Array;
  private readonly positions: Int32Array;
  private readonly segmentIds: Int32Array;

  constructor(
    private readonly rt: Runtime,
    readonly inputs: BatchInputs,
    private readonly spec: InputSpec,
  ) {
    const [B, T] = inputs.ids.shape;
    this.N = B * T;
    this.ids = new Int32Array(this.N);
    this.targets = new Int32Array(this.N);
    this.positions = new Int32Array(this.N);
    this.segmentIds = new Int32Array(this.N);
  }

  get B(): number {
    return this.inputs.ids.shape[0];
  }

  get T(): number {
    return this.inputs.ids.shape[1];
  }

  /** Throws unless the batch fits the plan. */
  check(batch: Batch): void {
    if (batch.B > this.B || batch.T > this.T) {
      throw new Error(`batch of (B ${batch.B}, T ${batch.T}) does not fit the planned (B ${this.B}, T ${this.T}); plan the trainer for the largest batch`);
    }
    const n = batch.B * batch.T;
    for (const k of ['ids', 'targets', 'positions', 'segmentIds'] as const) {
      if (batch[k].length !== n) throw new Error(`batch.${k} has ${batch[k].length} values, expected B·T = ${n}`);
    }
  }

  write(batch: Batch): void {
    this.check(batch);
    const { B, T } = this;
    let ids = batch.ids, targets = batch.targets, positions = batch.positions, segmentIds = batch.segmentIds;
    if (batch.B !== B || batch.T !== T) {
      const pad = (dst: Int32Array, src: Int32Array, fill: number) => padRows(dst.fill(fill), src, batch.B, batch.T, T);
      ids = pad(this.ids, batch.ids, 0);
      targets = pad(this.targets, batch.targets, IGNORE_INDEX);
      positions = pad(this.positions, batch.positions, 0);
      segmentIds = pad(this.segmentIds, batch.segmentIds, 0);
    }
    const rt = this.rt;
    const inp = this.inputs;
    rt.write(inp.ids, ids);
    rt.write(inp.targets, targets);
    rt.write(inp.positions, positions);
    rt.write(inp.segmentIds, segmentIds);
    rt.write(inp.embeddingIndex, embeddingBackwardIndex(ids, this.spec.vocabSize));
    if (inp.positionIndex) rt.write(inp.positionIndex, embeddingBackwardIndex(positions, this.spec.learnedPositions!));
  }
}

/**
 * Copies a (B', T', width) batch array row by row into the planned (B, T, width) `dst` (whose
 * padding the caller has filled) and returns it.
 */
export function padRows<A extends Int32Array | Float32Array>(dst: A, src: A, batchB: number, batchT: number, T: number, width = 1): A {
  for (let b = 0; b < batchB; b++) dst.set(src.subarray(b * batchT * width, (b + 1) * batchT * width), b * T * width);
  return dst;
}

/** Rows that carry loss (target ≠ -100): the LM head's share of the normaliser. */
export function trainedRows(batch: Batch): number {
  let n = 0;
  for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i] !== IGNORE_INDEX) n++;
  return n;
}
