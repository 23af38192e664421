// Embedding lookup (token table, and GPT-2's learned position table), forward and backward.
//   B  batch, T  sequence (ids may also be flat: n = B·T tokens)
//   V  table rows (vocabulary, or maximum positions), C  channels
// Out-of-range ids (< 0 or >= V) give zero rows in the forward (nothing is added with
// `accumulate`) and so receive no gradient: `embeddingBackwardIndex` drops them.
// Shaders: shaders/embedding.wgsl.
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/embedding.wgsl?raw';
import { ceilDiv, expectBindable, expectDType, expectNoAlias, expectPositiveInt, expectRank, expectShape } from './check.ts';

const WG = 256;

/** Shape of the i32 `index` tensor `embeddingBackward` reads for `n` tokens: (3n + 2). */
export function embeddingIndexShape(n: number): [number] {
  return [3 * n + 2];
}

/**
 * Groups the tokens of a batch by id, on the CPU (ids come from the CPU in training), into the
 * layout `embeddingBackward` reads (upload it as an i32 tensor of `embeddingIndexShape(n)`):
 *   [U, ids (n: first U used, ascending), offsets (n + 1), token indices (n)]
 * Token indices are grouped by id and ascending within an id: that fixed order is the summation
 * order, so the gradient is the same bits on every run. Ids outside [0, V) are left out.
 */
export function embeddingBackwardIndex(ids: Int32Array, V: number): Int32Array {
  const n = ids.length;
  const out = new Int32Array(3 * n + 2);
  const rows: number[] = [];
  for (let t = 0; t < n; t++) if (ids[t] >= 0 && ids[t] < V) rows.push(t);
  rows.sort((a, b) => ids[a] - ids[b] || a - b);
  const idsAt = 1, offAt = 1 + n, rowsAt = 2 + 2 * n;
  let U = 0;
  rows.forEach((t, k) => {
    if (k === 0 || ids[t] !== ids[rows[k - 1]]) {
      out[idsAt + U] = ids[t];
      out[offAt + U] = k;
      U++;
    }
    out[rowsAt + k] = t;
  });
  out[0] = U;
  // the end offset of the last id, repeated so every offset slot past U is a valid empty range
  for (let u = U; u <= n; u++) out[offAt + u] = rows.length;
  return out;
}

function checkIds(op: string, ids: Tensor): number {
  expectDType(op, 'ids', ids, 'i32');
  expectRank(op, 'ids', ids, 1, 2);
  ids.shape.forEach((d, i) => expectPositiveInt(op, `ids (${ids.label}) dimension ${i}`, d));
  return numel(ids.shape);
}

/** out = table[ids] (or out += table[ids] with `accumulate`); zero rows for ids outside [0, V). */
export function embeddingForward(
  rt: Runtime,
  a: {
    out: Tensor; // (B, T, C)
    ids: Tensor; // (B, T) i32
    table: Tensor; // (V, C)
    accumulate?: boolean;
  },
): Dispatch[] {
  const op = 'embeddingForward';
  const n = checkIds(op, a.ids);
  expectDType(op, 'table', a.table, 'f32');
  expectDType(op, 'out', a.out, 'f32');
  expectRank(op, 'table', a.table, 2);
  const [V, C] = a.table.shape;
  expectPositiveInt(op, `table (${a.table.label}) rows`, V);
  expectPositiveInt(op, `table (${a.table.label}) channels`, C);
  expectShape(op, 'out', a.out, [...a.ids.shape, C]);
  expectNoAlias(op, 1, ['out', 'ids', 'table'], a.out, a.ids, a.table);
  expectBindable(op, rt.limits, ['out', 'table'], a.out, a.table);
  return [
    rt.kernel({
      key: { kernel: 'embedding', variant: 'forward', dtype: 'f32', constants: { WG } },
      code,
      entryPoint: 'forward',
      bindings: { 1: a.out, 2: a.ids, 3: a.table },
      params: [['u32', n], ['u32', C], ['u32', V], ['u32', a.accumulate ? 1 : 0]],
      workgroups: grid(ceilDiv(n * C, WG)),
    }),
  ];
}

/**
 * dtable[v] += Σ dout[t] over the tokens t with ids[t] = v, deterministically, following `index`
 * (built by `embeddingBackwardIndex` from the same ids). `ids` only fixes the shapes: the kernel
 * reads the grouping from `index`, so the dispatch can be built once and `index` rewritten per batch.
 */
export function embeddingBackward(
  rt: Runtime,
  a: {
    dtable: Tensor; // (V, C)
    dout: Tensor; // (B, T, C)
    ids: Tensor; // (B, T) i32
    index: Tensor; // (3·B·T + 2) i32: embeddingBackwardIndex(ids, V)
  },
): Dispatch[] {
  const op = 'embeddingBackward';
  const n = checkIds(op, a.ids);
  expectDType(op, 'dtable', a.dtable, 'f32');
  expectDType(op, 'dout', a.dout, 'f32');
  expectDType(op, 'index', a.index, 'i32');
  expectRank(op, 'dtable', a.dtable, 2);
  const [V, C] = a.dtable.shape;
  expectPositiveInt(op, `dtable (${a.dtable.label}) rows`, V);
  expectPositiveInt(op, `dtable (${a.dtable.label}) channels`, C);
  expectShape(op, 'dout', a.dout, [...a.ids.shape, C]);
  expectShape(op, 'index', a.index, embeddingIndexShape(n));
  expectNoAlias(op, 1, ['dtable', 'dout', 'index'], a.dtable, a.dout, a.index);
  expectBindable(op, rt.limits, ['dtable', 'dout'], a.dtable, a.dout);
  // one workgroup per (possible distinct id, channel tile); those past U return at once
  const workgroups = n * ceilDiv(C, WG);
  return [
    rt.kernel({
      key: { kernel: 'embedding', variant: 'backward', dtype: 'f32', constants: { WG } },
      code,
      entryPoint: 'backward',
      bindings: { 4: a.dtable, 5: a.dout, 6: a.index },
      params: [['u32', n], ['u32', C], ['u32', V], ['u32', 0]],
      workgroups: grid(workgroups),
    }),
  ];
}
