import { describe, it, expect } from 'vitest';
import { matmul, matmulFlops, matmulTuning, setMatmulTuning, type MatmulTuning } from '../../src/ops/matmul.ts';
import { fromF16, toF16 } from '../../src/gpu/half.ts';
import type { Runtime } from '../../src/gpu/runtime.ts';
import type { DType } from '../../src/gpu/tensor.ts';
import { matmulBackwardRef, matmulRef } from '../reference/matmul.ts';
import { f64, finiteDifferenceError } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32, withTuning as withTuningOf } from '../helpers/gpu.ts';

interface Case {
  M: number; N: number; K: number; Z?: number;
  transA?: boolean; transB?: boolean; broadcastA?: boolean; broadcastB?: boolean; swapGrid?: boolean;
  bias?: boolean; accumulate?: boolean; alpha?: number;
  dtype?: DType; outDtype?: DType;
}

const roundF16 = (x: Float32Array) => fromF16(toF16(x));

/**
 * Runs one matmul on the GPU and checks it against the float64 reference computed from the same
 * (f16-rounded, for f16 inputs) values. f32: each output is a K-term f32 dot product of values in
 * [-1, 1], so the error is a few ulps per term: atol 1e-6·K. f16 out adds one f16 rounding of
 * the result (relative 2^-11 ≈ 4.9e-4): rtol 1e-3.
 */
async function check(rt: Runtime, c: Case, seed = 1): Promise<string> {
  const { M, N, K, Z = 1, transA = false, transB = false, broadcastA = false, broadcastB = false, alpha = 1 } = c;
  const dtype = c.dtype ?? 'f32', outDtype = c.outDtype ?? 'f32';
  const batched = c.Z !== undefined;
  let a = rand((broadcastA ? 1 : Z) * M * K, seed), b = rand((broadcastB ? 1 : Z) * K * N, seed + 1);
  const bias = c.bias ? rand(N, seed + 2) : undefined;
  const init = c.accumulate ? rand(Z * M * N, seed + 3) : undefined;
  if (dtype === 'f16') { a = roundF16(a); b = roundF16(b); }
  const aShape = transA ? [K, M] : [M, K], bShape = transB ? [N, K] : [K, N];
  const ta = rt.upload(a, batched && !broadcastA ? [Z, ...aShape] : aShape, dtype, 'a');
  const tb = rt.upload(b, batched && !broadcastB ? [Z, ...bShape] : bShape, dtype, 'b');
  const tbias = bias ? rt.upload(bias, [N], outDtype, 'bias') : undefined;
  const tout = init ? rt.upload(init, batched ? [Z, M, N] : [M, N], outDtype, 'out') : rt.tensor(batched ? [Z, M, N] : [M, N], outDtype, 'out');
  const d = matmul(rt, { out: tout, a: ta, b: tb, bias: tbias, transA, transB, accumulate: c.accumulate, alpha, swapGrid: c.swapGrid });
  rt.once(d);
  const f16ify = (x?: Float32Array) => (x && outDtype === 'f16' ? roundF16(x) : x);
  const want = matmulRef(f64(a), f64(b), { M, N, K, Z, transA, transB, broadcastA, broadcastB, alpha, bias: f64s(f16ify(bias)), init: f64s(f16ify(init)) });
  const tol = outDtype === 'f16' ? { atol: 1e-6 * K + 1e-3, rtol: 1e-3 } : { atol: 1e-6 * K, rtol: 1e-6 };
  expectClose(await readF32(rt, tout), want, tol, `matmul ${JSON.stringify(c)}`);
  rt.free(ta, tb, tout, ...(tbias ? [tbias] : []));
  return d[0].label;
}

const f64s = (x?: Float32Array) => (x ? f64(x) : undefined);

// Awkward sizes (not multiples of the 4-column / 8- or 16-row tiles), plus aligned ones that take
// the vec4 path (NN with K and N multiples of 4).
const SHAPES: [number, number, number][] = [[1, 1, 1], [7, 33, 5], [33, 7, 130], [130, 20, 33], [17, 36, 12], [40, 64, 64]];
const LAYOUTS = [[false, false], [false, true], [true, false], [true, true]] as const;

async function layoutsAndShapes(rt: Runtime): Promise<void> {
  for (const [transA, transB] of LAYOUTS) for (const [M, N, K] of SHAPES) await check(rt, { M, N, K, transA, transB });
  await expectNoGpuErrors(rt);
}

async function epilogues(rt: Runtime): Promise<void> {
  await check(rt, { M: 9, N: 12, K: 8, bias: true });
  await check(rt, { M: 9, N: 13, K: 7, bias: true, transB: true });
  await check(rt, { M: 9, N: 12, K: 8, accumulate: true });
  await check(rt, { M: 18, N: 5, K: 11, accumulate: true, transA: true, alpha: -0.5, bias: true });
  await check(rt, { M: 9, N: 12, K: 8, alpha: 0.125 });
  await check(rt, { M: 5, N: 12, K: 8, Z: 3 });
  await check(rt, { M: 5, N: 7, K: 9, Z: 3, transB: true, bias: true });
  await check(rt, { M: 20, N: 12, K: 8, Z: 2, broadcastB: true });
  await check(rt, { M: 20, N: 9, K: 6, Z: 4, broadcastB: true, transA: true, accumulate: true });
  // One x against several weights (fused projections): a shared, b batched.
  await check(rt, { M: 9, N: 13, K: 7, Z: 3, broadcastA: true, transB: true });
  await check(rt, { M: 30, N: 12, K: 8, Z: 2, broadcastA: true, transB: true, accumulate: true });
  await check(rt, { M: 5, N: 12, K: 8, Z: 3, broadcastA: true });
  await expectNoGpuErrors(rt);
}

// TN with M and N multiples of 4 (the weight gradients) takes the subgroup kernel's tn4 entry
// point: 16-row tiles for M ≤ 16 (4, 8, 12, 16), 24-row tiles above, cut by the edges in each of
// the three 8-row blocks a lane loads (M = 20, 36, 44, 132; N = 4, 20 not multiples of 32),
// K = 1, 7, 33, 130 (not multiples of 4: the k tail), batched with a broadcast b, epilogues.
const TN4: Case[] = [
  { M: 4, N: 4, K: 1 }, { M: 8, N: 12, K: 7 }, { M: 36, N: 20, K: 33 }, { M: 132, N: 8, K: 130 },
  { M: 44, N: 12, K: 5 }, { M: 24, N: 8, K: 3, Z: 2 },
  { M: 16, N: 64, K: 64, accumulate: true, alpha: -0.5, bias: true },
  { M: 12, N: 8, K: 9, Z: 3 }, { M: 20, N: 36, K: 6, Z: 2, broadcastB: true, accumulate: true },
];

const withTuning = (rt: Runtime, t: Partial<MatmulTuning>, f: () => Promise<void>) => withTuningOf(rt, matmulTuning, setMatmulTuning, t, f);

// The 24-row kernels (the default on GPUs; CPU adapters take matmul_rows.wgsl where it applies).
async function tn4Cases(rt: Runtime, extra: Partial<Case> = {}): Promise<void> {
  const sg = matmulTuning(rt).subgroups;
  await withTuning(rt, { rowTiles: false }, async () => {
    for (const c of TN4) {
      const label = await check(rt, { ...c, ...extra, transA: true });
      expect(label).toBe(sg ? `matmul_subgroup.tn4.out_${extra.outDtype ?? 'f32'}` : `matmul.strided.out_${extra.outDtype ?? 'f32'}`);
    }
  });
  await expectNoGpuErrors(rt);
}

// NN and NT with K (and N for NN) multiples of 4 take nn4 / nt4, whose tiles are 24 rows × 32
// columns: M = 20, 52, 70 cut the row tiles in each of the three 8-row groups a lane loads.
const NX4: Case[] = [
  { M: 20, N: 36, K: 8 }, { M: 52, N: 8, K: 20 }, { M: 70, N: 44, K: 12, accumulate: true, alpha: -0.5, bias: true },
  { M: 30, N: 12, K: 4, Z: 3 }, { M: 26, N: 4, K: 16, Z: 2, broadcastB: true },
];

async function nx4Cases(rt: Runtime): Promise<void> {
  const sg = matmulTuning(rt).subgroups;
  await withTuning(rt, { rowTiles: false }, async () => {
    for (const c of NX4) {
      expect(await check(rt, c)).toBe(`${sg ? 'matmul_subgroup' : 'matmul'}.nn4.out_f32`);
      expect(await check(rt, { ...c, N: c.N + 1, transB: true })).toBe(`${sg ? 'matmul_subgroup.nt4' : 'matmul.strided'}.out_f32`);
    }
  });
  await expectNoGpuErrors(rt);
}

// matmul_rows.wgsl (32 × 32 tiles, lanes own 4 rows): NN and NT with K % 4 == 0, TN with M % 4
// == 0, all with N % 4 == 0, M > 16 and 256 ≤ K ≤ 4096. M = 17, 33, 70 and N = 4, 36, 100 cut the
// tiles (and a lane's 4 rows); batched with a shared a or b, epilogues, f16, the swapped grid.
const ROWS: Case[] = [
  { M: 17, N: 4, K: 256 }, { M: 33, N: 36, K: 260 }, { M: 70, N: 100, K: 272, accumulate: true, alpha: -0.5, bias: true },
  { M: 40, N: 12, K: 256, Z: 3 }, { M: 36, N: 8, K: 264, Z: 2, broadcastB: true }, { M: 20, N: 44, K: 256, Z: 3, broadcastA: true },
];
// TN: any K in the range; K = 257, 258, 259 leave 1 to 3 rows after the whole blocks of 4.
const ROWS_TN: Case[] = [
  { M: 20, N: 4, K: 257 }, { M: 36, N: 36, K: 259 }, { M: 132, N: 8, K: 258, accumulate: true, alpha: -0.5, bias: true },
  { M: 24, N: 12, K: 256, Z: 2 }, { M: 20, N: 36, K: 262, Z: 2, broadcastB: true, accumulate: true },
  { M: 40, N: 100, K: 300, Z: 2, broadcastA: true },
];

async function rowsCases(rt: Runtime, extra: Partial<Case> = {}): Promise<void> {
  const out = extra.outDtype ?? 'f32';
  await withTuning(rt, { rowTiles: true }, async () => {
    for (const c of ROWS) {
      expect(await check(rt, { ...c, ...extra })).toBe(`matmul_rows.nn.out_${out}`);
      expect(await check(rt, { ...c, ...extra, transB: true })).toBe(`matmul_rows.nt.out_${out}`);
    }
    for (const c of ROWS_TN) expect(await check(rt, { ...c, ...extra, transA: true })).toBe(`matmul_rows.tn.out_${out}`);
    // Not taken: 16 rows or fewer, N not a multiple of 4, K out of 256 .. 4096.
    expect(await check(rt, { M: 16, N: 8, K: 256, ...extra })).toBe(`matmul_subgroup.nn4.out_${out}`);
    expect(await check(rt, { M: 40, N: 9, K: 256, transB: true, ...extra })).toBe(`matmul_subgroup.nt4.out_${out}`);
    expect(await check(rt, { M: 20, N: 8, K: 252, ...extra })).toBe(`matmul_subgroup.nn4.out_${out}`);
    expect(await check(rt, { M: 20, N: 8, K: 4100, transA: true, ...extra })).toBe(`matmul_subgroup.tn4.out_${out}`);
  });
  await expectNoGpuErrors(rt);
}

describe('matmul', () => {
  it('uses the subgroup kernel when the device has subgroups (lavapipe: 8 lanes)', async () => {
    const rt = await getRuntime();
    expect(matmulTuning(rt).subgroups).toBe(rt.features.subgroups);
    expect(matmulFlops(2, 3, 4, 5)).toBe(240);
  });

  it('NN, NT, TN, TT at awkward shapes (subgroup kernel)', async () => layoutsAndShapes(await getRuntime()));
  it('NN, NT, TN, TT at awkward shapes (plain kernel, no subgroups)', async () => {
    const rt = await getRuntime({ subgroups: true }); // disables subgroups
    expect(matmulTuning(rt).subgroups).toBe(false);
    await layoutsAndShapes(rt);
  });
  it('NN and NT vec4 paths (nn4, nt4) with tiles cut by the edges', async () => nx4Cases(await getRuntime()));
  it('row tiles (matmul_rows.wgsl: nn, nt, tn) cut by the edges, batched, epilogues, f16, swapped grid', async () => {
    const rt = await getRuntime();
    expect(matmulTuning(rt).rowTiles).toBe(true); // the default on this CPU adapter
    await rowsCases(rt);
    for (const outDtype of ['f32', 'f16'] as const) await rowsCases(rt, { dtype: 'f16', outDtype });
    await rowsCases(rt, { outDtype: 'f16' });
    await rowsCases(rt, { swapGrid: true });
  });

  it('TN vec4 path (tn4) at awkward shapes, f32 and f16, and the plain kernel on the same cases', async () => {
    const rt = await getRuntime();
    await tn4Cases(rt);
    for (const outDtype of ['f32', 'f16'] as const) await tn4Cases(rt, { dtype: 'f16', outDtype });
    await tn4Cases(await getRuntime({ subgroups: true }));
    await tn4Cases(await getRuntime({ f16: true }));
  });
  it('bias, accumulate, alpha, batched, broadcast b (subgroup kernel)', async () => epilogues(await getRuntime()));
  it('row tiles fastest (swapped grid) at shapes cut by the tiles, every entry point', async () => {
    const rt = await getRuntime();
    await withTuning(rt, { rowTiles: false }, async () => {
      for (const c of [...NX4, ...NX4.map((x) => ({ ...x, N: x.N + 1, transB: true })), ...TN4.map((x) => ({ ...x, transA: true })), { M: 33, N: 7, K: 130 }]) {
        await check(rt, { ...c, swapGrid: true });
      }
    });
    await expectNoGpuErrors(rt);
  });
  it('bias, accumulate, alpha, batched, broadcast b (plain kernel)', async () => epilogues(await getRuntime({ subgroups: true })));

  it('f16 inputs with f32 and f16 out', async () => {
    const rt = await getRuntime();
    expect(rt.features.f16).toBe(true); // lavapipe has shader-f16: the variant must be exercised
    for (const outDtype of ['f32', 'f16'] as const) {
      await check(rt, { M: 33, N: 20, K: 36, dtype: 'f16', outDtype });
      await check(rt, { M: 7, N: 13, K: 130, dtype: 'f16', outDtype, transB: true, bias: true });
      await check(rt, { M: 19, N: 8, K: 5, Z: 2, dtype: 'f16', outDtype, transA: true, accumulate: true });
    }
    // Against the unrounded f32 inputs, the error is the f16 rounding of a and b (each relative
    // 2^-11 on values of magnitude <= 1): at most K·2·2^-11 on a K-term dot product.
    const M = 16, N = 24, K = 64;
    const a = rand(M * K, 7), b = rand(K * N, 8);
    const ta = rt.upload(a, [M, K], 'f16'), tb = rt.upload(b, [K, N], 'f16'), out = rt.tensor([M, N]);
    rt.once(matmul(rt, { out, a: ta, b: tb }));
    expectClose(await readF32(rt, out), matmulRef(f64(a), f64(b), { M, N, K }), { atol: K * 2 * 2 ** -11 }, 'f16 vs f32 inputs');
    rt.free(ta, tb, out);
    await expectNoGpuErrors(rt);
  });

  it('works with f16 disabled, and refuses f16 tensors there', async () => {
    const rt = await getRuntime({ f16: true }); // the argument lists features to disable
    expect(rt.features.f16).toBe(false);
    await check(rt, { M: 33, N: 20, K: 36 });
    await check(rt, { M: 7, N: 13, K: 9, transA: true, bias: true, accumulate: true });
    const a = rt.tensor([4, 4], 'f16', 'a16'), out = rt.tensor([4, 4]);
    expect(() => matmul(rt, { out, a, b: a })).toThrow(/matmul: f16 tensors need the shader-f16 feature/);
    rt.free(a, out);
    await expectNoGpuErrors(rt);
  });

  it('gradients: dA = dC·Bᵀ and dB = Aᵀ·dC agree with finite differences and with the GPU NT/TN variants', async () => {
    const M = 7, N = 5, K = 9;
    const A = f64(rand(M * K, 11)), B = f64(rand(K * N, 12)), dC = f64(rand(M * N, 13));
    const err = finiteDifferenceError(
      ([x, y]) => matmulRef(x, y, { M, N, K }),
      ([x, y], d) => matmulBackwardRef(x, y, d, M, N, K),
      [A, B], dC, { samples: 30 },
    );
    expect(err).toBeLessThan(1e-6); // central differences of a bilinear function are exact up to rounding
    const [dA, dB] = matmulBackwardRef(A, B, dC, M, N, K);
    const rt = await getRuntime();
    const tA = rt.upload(A, [M, K]), tB = rt.upload(B, [K, N]), tdC = rt.upload(dC, [M, N]);
    const tdA = rt.tensor([M, K]), tdB = rt.tensor([K, N], 'f32', 'dB', true);
    rt.once([
      ...matmul(rt, { out: tdA, a: tdC, b: tB, transB: true }),
      ...matmul(rt, { out: tdB, a: tA, b: tdC, transA: true, accumulate: true }),
    ]);
    expectClose(await readF32(rt, tdA), dA, { atol: 1e-6 * N }, 'dA');
    expectClose(await readF32(rt, tdB), dB, { atol: 1e-6 * M }, 'dB');
    rt.free(tA, tB, tdC, tdA, tdB);
    await expectNoGpuErrors(rt);
  });

  it('rejects bad input before dispatch, naming op and shapes', async () => {
    const rt = await getRuntime();
    const a = rt.tensor([3, 4], 'f32', 'a'), b = rt.tensor([5, 6], 'f32', 'b'), out = rt.tensor([3, 6], 'f32', 'out');
    const bi = rt.tensor([4, 6], 'f32', 'b'), ai = rt.tensor([3, 4], 'i32', 'ai'), bias = rt.tensor([5], 'f32', 'bias');
    expect(() => matmul(rt, { out, a, b })).toThrow('matmul: inner dimensions differ: 4 vs 5 (a (3, 4) · b (5, 6) → out (3, 6))');
    expect(() => matmul(rt, { out, a: ai, b: bi })).toThrow('matmul: a (ai) has dtype i32, expected f32 or f16');
    expect(() => matmul(rt, { out: b, a, b: bi })).toThrow('matmul: out (out) has shape (5, 6), expected (3, 6) (a (3, 4) · b (4, 6) → out (5, 6))'.replace('out (out)', 'out (b)'));
    expect(() => matmul(rt, { out, a, b: bi, bias })).toThrow(/matmul: bias \(bias\) has shape \(5\), expected \(6\)/);
    expect(() => matmul(rt, { out, a, b: bi, transB: true })).toThrow(/inner dimensions differ: 4 vs 6 .*b \(4, 6\)ᵀ/);
    const a3 = rt.tensor([2, 3, 4], 'f32', 'a3'), b3 = rt.tensor([3, 4, 6], 'f32', 'b3'), out3 = rt.tensor([2, 3, 6], 'f32', 'out3');
    expect(() => matmul(rt, { out: out3, a: a3, b: b3 })).toThrow('matmul: a and b have different batch sizes, 2 and 3 (a (2, 3, 4) · b (3, 4, 6) → out (2, 3, 6))');
    expect(() => matmul(rt, { out, a, b: b3 })).toThrow("matmul: out (out) has shape (3, 6), expected rank 3");
    rt.free(a, b, out, bi, ai, bias, a3, b3, out3);
  });
});
