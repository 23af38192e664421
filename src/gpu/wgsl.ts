import type { DType } from './tensor.ts';

/**
 * Specialises a shader's storage type. Shaders that support f16 storage declare, on a line of its
 * own, `alias ST = f32;` (the storage element type; arithmetic stays f32). For 'f16' that line
 * becomes `alias ST = f16;` and `enable f16;` is prepended. The file stays valid WGSL on its own.
 */
export function specialize(code: string, storage: DType): string {
  if (storage === 'f32') return code;
  if (storage !== 'f16') throw new Error(`specialize: storage type ${storage} is not supported`);
  const line = /^alias ST = f32;$/m;
  if (!line.test(code)) throw new Error('specialize: shader has no `alias ST = f32;` line to specialise');
  return `enable f16;\n${code.replace(line, 'alias ST = f16;')}`;
}

/** Prepends `enable subgroups;` for the subgroup variant of a shader. */
export function withSubgroups(code: string): string {
  return `enable subgroups;\n${code}`;
}
