import type { F64 } from './gradcheck.ts';

export const addRef = (a: F64, b: F64): F64 => a.map((v, i) => v + b[i]);
export const axpyRef = (y: F64, x: F64, alpha: number): F64 => y.map((v, i) => v + alpha * x[i]);
export const scaleRef = (x: F64, alpha: number): F64 => x.map((v) => alpha * v);
