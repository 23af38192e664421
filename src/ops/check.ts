import { OpError } from '../gpu/errors.ts';
import { BYTES, numel, shapeStr, type DType, type Tensor } from '../gpu/tensor.ts';

// Argument checks every op runs before it builds a dispatch, so bad input fails with a message
// that names the op, the argument and the shapes, and never reaches the GPU.

export function expectDType(op: string, name: string, t: Tensor, ...allowed: DType[]): void {
  if (!allowed.includes(t.dtype)) throw new OpError(op, `${name} (${t.label}) has dtype ${t.dtype}, expected ${allowed.join(' or ')}`);
}

/** `shape` may contain -1 for "any size"; returns the actual sizes. */
export function expectShape(op: string, name: string, t: Tensor, shape: readonly number[]): readonly number[] {
  const ok = t.shape.length === shape.length && shape.every((d, i) => d === -1 || d === t.shape[i]);
  if (!ok) throw new OpError(op, `${name} (${t.label}) has shape ${shapeStr(t.shape)}, expected ${shapeStr(shape.map((d) => (d === -1 ? '*' : d)) as never)}`);
  return t.shape;
}

export function expectRank(op: string, name: string, t: Tensor, ...ranks: number[]): void {
  if (!ranks.includes(t.shape.length)) throw new OpError(op, `${name} (${t.label}) has shape ${shapeStr(t.shape)}, expected rank ${ranks.join(' or ')}`);
}

export function expectSameShape(op: string, names: string[], ...ts: Tensor[]): void {
  const first = ts[0];
  ts.forEach((t, i) => {
    if (t.shape.length !== first.shape.length || t.shape.some((d, j) => d !== first.shape[j])) {
      throw new OpError(op, `${names[i]} (${t.label}) has shape ${shapeStr(t.shape)} but ${names[0]} has ${shapeStr(first.shape)}`);
    }
  });
}

export function expectNumel(op: string, name: string, t: Tensor, n: number): void {
  if (numel(t.shape) !== n) throw new OpError(op, `${name} (${t.label}) has ${numel(t.shape)} elements (shape ${shapeStr(t.shape)}), expected ${n}`);
}

export function expectPositiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new OpError(op, `${name} must be a positive integer, got ${v}`);
}

export function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/**
 * WebGPU rejects a dispatch whose writable binding overlaps another binding of the same buffer;
 * this names the op and the arguments instead. The first `written` tensors are the ones the op
 * writes; read-only tensors may share memory with each other.
 */
export function expectNoAlias(op: string, written: number, names: string[], ...ts: Tensor[]): void {
  for (let i = 0; i < Math.min(written, ts.length); i++) {
    for (let j = i + 1; j < ts.length; j++) {
      const a = ts[i], b = ts[j];
      if (a.buffer !== b.buffer) continue;
      const aEnd = a.byteOffset + numel(a.shape) * BYTES[a.dtype];
      const bEnd = b.byteOffset + numel(b.shape) * BYTES[b.dtype];
      if (a.byteOffset < bEnd && b.byteOffset < aEnd) throw new OpError(op, `${names[i]} (${a.label}) and ${names[j]} (${b.label}) overlap in the same buffer; they must be distinct`);
    }
  }
}

/** Rejects tensors larger than one storage binding may be on this device. */
export function expectBindable(op: string, limits: GPUSupportedLimits, names: string[], ...ts: Tensor[]): void {
  const max = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  ts.forEach((t, i) => {
    const bytes = numel(t.shape) * BYTES[t.dtype];
    if (bytes > max) throw new OpError(op, `${names[i]} (${t.label}) of shape ${shapeStr(t.shape)} needs ${bytes} bytes, over this device's limit of ${max} bytes per binding (maxStorageBufferBindingSize)`);
  });
}

/** A chunk of R rows of (N, V) logits: (R, V) f32 with positive sizes. Returns R and V. */
export function expectLogitsChunk(op: string, logits: Tensor): { R: number; V: number } {
  expectDType(op, 'logits', logits, 'f32');
  expectRank(op, 'logits', logits, 2);
  const [R, V] = logits.shape;
  expectPositiveInt(op, 'logits rows (R)', R);
  expectPositiveInt(op, 'vocabulary (V)', V);
  return { R, V };
}

/** The chunk's rows [rowOffset, rowOffset + R) must lie within the N rows that `of` describes. */
export function expectChunkRows(op: string, logits: Tensor, rowOffset: number, N: number, of: string): void {
  const R = logits.shape[0];
  if (!Number.isInteger(rowOffset) || rowOffset < 0 || rowOffset + R > N) {
    throw new OpError(op, `rows [${rowOffset}, ${rowOffset + R}) of the chunk (logits ${logits.label} has R = ${R}) do not fit in the N = ${N} ${of}`);
  }
}

/** Per-row top-K token ids (N, K) i32 over a vocabulary of V, with 1 ≤ K ≤ min(max, V). Returns K. */
export function expectTopK(op: string, name: string, ids: Tensor, N: number, V: number, max: number, vocab: string): number {
  expectDType(op, name, ids, 'i32');
  expectRank(op, name, ids, 2);
  const K = ids.shape[1];
  expectShape(op, name, ids, [N, -1]);
  expectPositiveInt(op, `${name} top-k (K)`, K);
  if (K > max) throw new OpError(op, `${name} (${ids.label}) has K = ${K} entries per row, at most ${max} are supported`);
  if (K > V) throw new OpError(op, `${name} (${ids.label}) has K = ${K} entries per row but the vocabulary (${vocab}) has only V = ${V}`);
  return K;
}

/**
 * The arguments every chunked per-row loss shares (cross-entropy, distillation): logits (R, V) of a
 * chunk of the N rows, targets (N) i32, per-row losses (N) f32, the chunk's row offset, and the
 * gradScale (1) f32 unless only evaluating. Returns the sizes.
 */
export function expectLossChunk(
  op: string,
  a: { logits: Tensor; targets: Tensor; losses: Tensor; correct?: Tensor; rowOffset: number; gradScale?: Tensor; evaluate?: boolean },
): { R: number; V: number; N: number } {
  const { R, V } = expectLogitsChunk(op, a.logits);
  expectDType(op, 'targets', a.targets, 'i32');
  expectRank(op, 'targets', a.targets, 1);
  const N = a.targets.shape[0];
  expectPositiveInt(op, 'targets length (N)', N);
  expectDType(op, 'losses', a.losses, 'f32');
  expectShape(op, 'losses', a.losses, [N]);
  if (a.correct) {
    expectDType(op, 'correct', a.correct, 'f32');
    expectShape(op, 'correct', a.correct, [N]);
  }
  expectChunkRows(op, a.logits, a.rowOffset, N, `targets (${a.targets.label})`);
  if (!a.evaluate) {
    if (!a.gradScale) throw new OpError(op, 'gradScale (a (1) f32 tensor) is required unless evaluate is set');
    expectDType(op, 'gradScale', a.gradScale, 'f32');
    expectShape(op, 'gradScale', a.gradScale, [1]);
  }
  return { R, V, N };
}
