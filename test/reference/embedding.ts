// float64 references for the embedding lookup: rows of a (V, C) table gathered by id (zero rows
// for ids outside [0, V)), and the backward that scatters dout back into the table's rows.
import type { F64 } from './gradcheck.ts';

export function embeddingRef(ids: ArrayLike<number>, table: F64, V: number, C: number): F64 {
  const out = new Float64Array(ids.length * C);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (id >= 0 && id < V) for (let c = 0; c < C; c++) out[t * C + c] = table[id * C + c];
  }
  return out;
}

export function embeddingBackwardRef(ids: ArrayLike<number>, dout: F64, V: number, C: number): F64 {
  const dtable = new Float64Array(V * C);
  for (let t = 0; t < ids.length; t++) {
    const id = ids[t];
    if (id >= 0 && id < V) for (let c = 0; c < C; c++) dtable[id * C + c] += dout[t * C + c];
  }
  return dtable;
}
