// Shared bits of the reference models: config field readers (transformers' defaults apply when a
// field is missing or null) and the per-token inputs every architecture reads.

export type HFConfig = Record<string, unknown>;

/** Token-level inputs, each (B·T) row-major. */
export interface Inputs {
  ids: Int32Array;
  positions: Int32Array;
  segmentIds: Int32Array;
  B: number;
  T: number;
}

export function configError(field: string, value: unknown, why: string): never {
  throw new Error(`reference model: config.json ${field} = ${JSON.stringify(value)}: ${why}`);
}

export function int(hf: HFConfig, name: string, fallback: number): number {
  const v = hf[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) configError(name, v, 'expected a positive integer');
  return v;
}

export function num(hf: HFConfig, name: string, fallback: number): number {
  const v = hf[name] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) configError(name, v, 'expected a number');
  return v;
}

export function bool(hf: HFConfig, name: string, fallback: boolean): boolean {
  const v = hf[name] ?? fallback;
  if (typeof v !== 'boolean') configError(name, v, 'expected true or false');
  return v;
}
