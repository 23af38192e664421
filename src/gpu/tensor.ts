/** Element types a tensor can hold on the GPU. */
export type DType = 'f32' | 'f16' | 'i32' | 'u32';

export const BYTES: Record<DType, number> = { f32: 4, f16: 2, i32: 4, u32: 4 };

/**
 * A typed view of (part of) a GPU buffer. Parameters of a model are views into one flat buffer,
 * so `byteOffset` is often non-zero; it is always a multiple of the device's
 * minStorageBufferOffsetAlignment.
 */
export interface Tensor {
  readonly buffer: GPUBuffer;
  readonly byteOffset: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly label: string;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Bytes the tensor's elements occupy, rounded up to 4 (bindings are sized in words). */
export function byteSize(t: { shape: readonly number[]; dtype: DType }): number {
  return Math.ceil((numel(t.shape) * BYTES[t.dtype]) / 4) * 4;
}

export function shapeStr(shape: readonly number[]): string {
  return `(${shape.join(', ')})`;
}

/** The binding for a tensor in a bind group entry. */
export function binding(t: Tensor): GPUBufferBinding {
  return { buffer: t.buffer, offset: t.byteOffset, size: Math.max(4, byteSize(t)) };
}

/** A view with another shape of the same elements (no copy). */
export function reshape(t: Tensor, shape: readonly number[]): Tensor {
  if (numel(shape) !== numel(t.shape)) {
    throw new Error(`reshape ${t.label}: ${shapeStr(t.shape)} has ${numel(t.shape)} elements, ${shapeStr(shape)} has ${numel(shape)}`);
  }
  return { ...t, shape: [...shape] };
}
