// Token embedding, plus GPT-2's learned position embedding, forward and backward.
//   B batch, T sequence, V vocabulary, P positions (rows of wpe), C channels
import type { Runtime, Step } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { embeddingBackward, embeddingForward } from '../ops/embedding.ts';

/** out = wte[ids] (+ wpe[positions]). */
export function embedForward(
  rt: Runtime,
  a: {
    out: Tensor; // (B, T, C)
    ids: Tensor; // (B, T) i32
    wte: Tensor; // (V, C)
    positions?: Tensor; // (B, T) i32, with wpe
    wpe?: Tensor; // (P, C)
  },
): Step[] {
  const steps: Step[] = embeddingForward(rt, { out: a.out, ids: a.ids, table: a.wte });
  if (a.wpe) {
    if (!a.positions) throw new Error('embedForward: a position table needs positions');
    steps.push(...embeddingForward(rt, { out: a.out, ids: a.positions, table: a.wpe, accumulate: true }));
  }
  return steps;
}

/** dwte += scatter of dout by ids; dwpe += scatter by positions (each through its CSR index). */
export function embedBackward(
  rt: Runtime,
  a: {
    dwte?: Tensor; // (V, C), accumulated; omitted when frozen
    dwpe?: Tensor; // (P, C), accumulated
    dout: Tensor; // (B, T, C)
    ids: Tensor; // (B, T) i32
    index: Tensor; // (3·B·T + 2) i32: embeddingBackwardIndex(ids, V)
    positions?: Tensor; // (B, T) i32
    positionIndex?: Tensor; // (3·B·T + 2) i32: embeddingBackwardIndex(positions, P)
  },
): Step[] {
  const steps: Step[] = [];
  if (a.dwte) steps.push(...embeddingBackward(rt, { dtable: a.dwte, dout: a.dout, ids: a.ids, index: a.index }));
  if (a.dwpe) {
    if (!a.positions || !a.positionIndex) throw new Error('embedBackward: the position table gradient needs positions and BatchInputs.positionIndex');
    steps.push(...embeddingBackward(rt, { dtable: a.dwpe, dout: a.dout, ids: a.positions, index: a.positionIndex }));
  }
  return steps;
}
