import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import { attentionBackward, attentionForward, attentionScratchShapes, attentionTuning, setAttentionTuning, type AttentionTiles, type AttentionTuning } from '../../src/ops/attention.ts';
import { fromF16, toF16 } from '../../src/gpu/half.ts';
import type { Runtime } from '../../src/gpu/runtime.ts';
import { attentionBackwardRef, attentionForwardRef, type AttnDims } from '../reference/attention.ts';
import { f64, finiteDifferenceError } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32, withTuning as withTuningOf } from '../helpers/gpu.ts';

// Tolerances. f32: the GPU sums D products per score and up to T terms per output in f32, in
// another order than the f64 reference; values are O(1), so errors are a few 1e-6 times sqrt(T).
// The lse goes through exp2/log2 (a couple of ulps on ~|lse| <= 8).
const F32 = { out: { atol: 2e-5, rtol: 2e-5 }, lse: { atol: 2e-5, rtol: 2e-5 }, grad: { atol: 1e-4, rtol: 1e-4 } };
// f16: inputs are rounded to f16 before the reference sees them, so only out's own f16 rounding
// (2^-11 relative) remains, and, in the backward, delta computed from that rounded out.
const F16 = { out: { atol: 2e-3, rtol: 2e-3 }, lse: { atol: 5e-5, rtol: 5e-5 }, grad: { atol: 4e-3, rtol: 4e-3 } };

type SegKind = 'none' | 'middle' | 'three';

interface Case extends AttnDims {
  segKind?: SegKind;
  dtype?: 'f32' | 'f16';
  tiles?: AttentionTiles;
}

function segments(kind: SegKind, B: number, T: number): Int32Array | undefined {
  if (kind === 'none') return undefined;
  const s = new Int32Array(B * T);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < T; i++) {
      // 'middle': one boundary mid-sequence; 'three': boundaries that move with b, ids not sorted.
      s[b * T + i] = kind === 'middle' ? (i < Math.floor(T / 2) + 1 ? 0 : 1) : [7, 3, 9][Math.min(2, Math.floor(((i + 2 * b) * 3) / (T + 2 * b)))];
    }
  return s;
}

const roundF16 = (a: Float32Array) => fromF16(toF16(a));

/** Runs forward and backward on the GPU and checks them against the f64 reference. */
async function check(rt: Runtime, c: Case): Promise<void> {
  const { B, T, Hq, Hkv, D } = c;
  const dtype = c.dtype ?? 'f32';
  const tol = dtype === 'f16' ? F16 : F32;
  const prep = (a: Float32Array) => (dtype === 'f16' ? roundF16(a) : a);
  // Scores of a few units: softmax neither uniform nor one-hot.
  const q = prep(rand(B * T * Hq * D, 1, -2, 2));
  const k = prep(rand(B * T * Hkv * D, 2, -2, 2));
  const v = prep(rand(B * T * Hkv * D, 3));
  const dout = prep(rand(B * T * Hq * D, 4));
  const seg = segments(c.segKind ?? 'none', B, T);
  const dims: AttnDims = { ...c, seg };
  const tq = rt.upload(q, [B, T, Hq, D], dtype, 'q');
  const tk = rt.upload(k, [B, T, Hkv, D], dtype, 'k');
  const tv = rt.upload(v, [B, T, Hkv, D], dtype, 'v');
  const tdout = rt.upload(dout, [B, T, Hq, D], dtype, 'dout');
  const tseg = seg ? rt.upload(seg, [B, T], 'i32', 'seg') : undefined;
  const shapes = attentionScratchShapes(B, T, Hq);
  const tout = rt.tensor([B, T, Hq, D], dtype, 'out');
  const tlse = rt.tensor(shapes.lse, 'f32', 'lse');
  const tdelta = rt.tensor(shapes.delta, 'f32', 'delta');
  const tdq = rt.tensor([B, T, Hq, D], 'f32', 'dq');
  const tdk = rt.tensor([B, T, Hkv, D], 'f32', 'dk');
  const tdv = rt.tensor([B, T, Hkv, D], 'f32', 'dv');

  rt.once(attentionForward(rt, { out: tout, lse: tlse, q: tq, k: tk, v: tv, segmentIds: tseg, scale: c.scale }, c.tiles));
  const ref = attentionForwardRef(dims, f64(q), f64(k), f64(v));
  expectClose(await readF32(rt, tout), ref.out, tol.out, 'out');
  expectClose(await readF32(rt, tlse), ref.lse, tol.lse, 'lse');

  const bw = { dq: tdq, dk: tdk, dv: tdv, dout: tdout, q: tq, k: tk, v: tv, out: tout, lse: tlse, delta: tdelta, segmentIds: tseg, scale: c.scale };
  rt.once(attentionBackward(rt, bw, c.tiles));
  const g = attentionBackwardRef(dims, f64(q), f64(k), f64(v), f64(dout));
  expectClose(await readF32(rt, tdq), g.dq, tol.grad, 'dq');
  expectClose(await readF32(rt, tdk), g.dk, tol.grad, 'dk');
  expectClose(await readF32(rt, tdv), g.dv, tol.grad, 'dv');

  rt.free(tq, tk, tv, tdout, tout, tlse, tdelta, tdq, tdk, tdv, ...(tseg ? [tseg] : []));
  await expectNoGpuErrors(rt);
}

const SMALL_TILES: AttentionTiles = { BQ: 16, BK: 16, BKV: 16, BQT: 8 };

/** Runs `f` with part of the attention tuning overridden, then restores it. */
const withTuning = (rt: Runtime, t: Partial<AttentionTuning>, f: () => Promise<void>) => withTuningOf(rt, attentionTuning, setAttentionTuning, t, f);

describe('attention', () => {
  const cases: Case[] = [
    { B: 2, T: 33, Hq: 4, Hkv: 2, D: 16 },
    { B: 1, T: 130, Hq: 6, Hkv: 1, D: 12, segKind: 'middle' },
    { B: 2, T: 7, Hq: 2, Hkv: 2, D: 64, segKind: 'three' },
    { B: 2, T: 1, Hq: 1, Hkv: 1, D: 8 },
    { B: 2, T: 33, Hq: 2, Hkv: 1, D: 100, segKind: 'middle' },
    { B: 2, T: 33, Hq: 4, Hkv: 2, D: 7, segKind: 'three', tiles: SMALL_TILES },
    { B: 1, T: 7, Hq: 3, Hkv: 3, D: 8, scale: 0.7 },
    { B: 1, T: 130, Hq: 2, Hkv: 2, D: 4 },
  ];
  for (const c of cases) {
    const name = `B=${c.B} T=${c.T} Hq=${c.Hq} Hkv=${c.Hkv} D=${c.D}${c.segKind ? ` seg=${c.segKind}` : ''}${c.tiles ? ' small tiles' : ''}${c.scale ? ` scale=${c.scale}` : ''}`;
    it(`f32 forward and backward, ${name}`, async () => check(await getRuntime(), c));
  }

  // The cases above take the subgroup kernels wherever D % 4 == 0 (blocks of 32 queries x tiles of
  // 32 keys, dk/dv workgroups of 32 keys x 32-query steps: T = 1, 7, 33, 130 cut them everywhere); the
  // backward is the fused kernel where B * Hkv >= 2, the two subgroup kernels otherwise, and the
  // plain kernels for D > 64. Here the same shapes without subgroups (attention.wgsl only), and the
  // plain backward.
  it('subgroups disabled: attention.wgsl forward, T=33 GQA and T=130 segments', async () => {
    const rt = await getRuntime({ subgroups: true });
    expect(rt.features.subgroups).toBe(false);
    expect(attentionTuning(rt).subgroups).toBe(false);
    await check(rt, { B: 2, T: 33, Hq: 4, Hkv: 2, D: 16 });
    await check(rt, { B: 1, T: 130, Hq: 2, Hkv: 1, D: 12, segKind: 'three' });
  });

  it('uses the subgroup path on this device', async () => {
    expect(attentionTuning(await getRuntime()).subgroups).toBe(true);
  });

  // With subgroups on, the plain backward (attention.wgsl) is only reached for D % 4 != 0 above.
  it('plain backward kernels with the subgroup forward, GQA, segments, T=40', async () => {
    const rt = await getRuntime();
    await withTuning(rt, { backward: 'plain' }, () => check(rt, { B: 2, T: 40, Hq: 4, Hkv: 2, D: 8, segKind: 'three' }));
  });

  // On lavapipe (a CPU adapter) the default backward is the fused kernel; the two-kernel subgroup
  // backward, the default on GPUs, is checked here at a shape that cuts its 32-key workgroups and
  // 32-query steps, with GQA and segments. Heads over 64 take the plain backward: the subgroup
  // kernels' private arrays would pass WGSL's 8 KiB of function-scope variables.
  // Regression: a barrier made lavapipe compile backward_fused as a coroutine, 1.3-1.4x slower.
  // The subgroup kernels need none (in backward_fused every dq, dk, dv element is zeroed, read
  // and written by one lane).
  it('the subgroup attention kernels have no barrier', () => {
    const src = readFileSync(new URL('../../shaders/attention_subgroup.wgsl', import.meta.url), 'utf8');
    expect(src).not.toMatch(/Barrier\s*\(/);
  });

  it('uses the fused backward on this CPU adapter when B * Hkv >= 2', async () => {
    const rt = await getRuntime();
    expect(attentionTuning(rt).backward).toBe('fused');
    // Stats + fused kernel, or stats + dkdv + dq when one workgroup would leave a core idle.
    const kernels = (B: number, Hkv: number, D = 8) => {
      const [T, Hq] = [5, 2];
      const q = rt.tensor([B, T, Hq, D]), kv = rt.tensor([B, T, Hkv, D]), kv2 = rt.tensor([B, T, Hkv, D]);
      const lse = rt.tensor([B, Hq, T]), delta = rt.tensor(attentionScratchShapes(B, T, Hq).delta);
      const d = attentionBackward(rt, { dq: q, dk: kv, dv: kv2, dout: q, q, k: kv, v: kv2, out: q, lse, delta });
      rt.release(d);
      rt.free(q, kv, kv2, lse, delta);
      return d.map((x) => x.label.split('.')[0]);
    };
    expect(kernels(2, 1)).toEqual(['attention', 'attention_subgroup']);
    expect(kernels(2, 1, 96)).toEqual(['attention', 'attention', 'attention']);
    expect(kernels(1, 2)).toHaveLength(2);
    expect(kernels(1, 1)).toHaveLength(3);
    await expectNoGpuErrors(rt);
  });

  // T=130 with three documents: whole key tiles of other documents are skipped in every kernel.
  it('two-kernel subgroup backward (dkdv, dq), GQA, segments, T=40 and T=130, and T=130 without segments', async () => {
    const rt = await getRuntime();
    await withTuning(rt, { backward: 'subgroup' }, () => check(rt, { B: 2, T: 40, Hq: 4, Hkv: 2, D: 16, segKind: 'three' }));
    await withTuning(rt, { backward: 'subgroup' }, () => check(rt, { B: 1, T: 130, Hq: 2, Hkv: 1, D: 32, segKind: 'three' }));
    // Without segment ids only the diagonal and last steps are masked: the unmasked path of dq.
    await withTuning(rt, { backward: 'subgroup' }, () => check(rt, { B: 1, T: 130, Hq: 4, Hkv: 2, D: 32 }));
  });

  it('f16 storage, B=2 T=33 Hq=4 Hkv=2 D=16 seg=middle', async () => {
    const rt = await getRuntime();
    expect(rt.features.f16).toBe(true);
    await check(rt, { B: 2, T: 33, Hq: 4, Hkv: 2, D: 16, segKind: 'middle', dtype: 'f16' });
  });

  it('f16 storage, B=1 T=130 Hq=2 Hkv=2 D=64', async () => {
    await check(await getRuntime(), { B: 1, T: 130, Hq: 2, Hkv: 2, D: 64, dtype: 'f16' });
  });

  it('works with f16 disabled, and refuses f16 tensors there', async () => {
    const rt = await getRuntime({ f16: true });
    expect(rt.features.f16).toBe(false);
    await check(rt, { B: 2, T: 33, Hq: 4, Hkv: 2, D: 16, segKind: 'middle' });
    const t = rt.tensor([1, 3, 2, 8], 'f16', 'qh');
    const l = rt.tensor([1, 2, 3], 'f32', 'lse');
    expect(() => attentionForward(rt, { out: t, lse: l, q: t, k: t, v: t })).toThrow(/attentionForward: q \(qh\) is f16 but this device has no shader-f16/);
    rt.free(t, l);
  });

  // Both subgroup backwards on this adapter: the fused kernel (its default) and the two kernels.
  for (const backward of ['fused', 'subgroup'] as const) {
    it(`accumulate adds into dq, dk, dv (${backward} backward)`, async () => {
      const rt = await getRuntime();
      await withTuning(rt, { backward }, async () => {
        const [B, T, Hq, Hkv, D] = [2, 9, 2, 1, 8];
        const q = rand(B * T * Hq * D, 5), k = rand(B * T * Hkv * D, 6), v = rand(B * T * Hkv * D, 7), dout = rand(B * T * Hq * D, 8);
        const tq = rt.upload(q, [B, T, Hq, D]), tk = rt.upload(k, [B, T, Hkv, D]), tv = rt.upload(v, [B, T, Hkv, D]);
        const tdout = rt.upload(dout, [B, T, Hq, D]);
        const tout = rt.tensor([B, T, Hq, D]), tlse = rt.tensor([B, Hq, T]), tdelta = rt.tensor([B, Hq, T]);
        const tdq = rt.upload(rand(B * T * Hq * D, 9), [B, T, Hq, D]);
        const tdk = rt.upload(rand(B * T * Hkv * D, 10), [B, T, Hkv, D]);
        const tdv = rt.upload(rand(B * T * Hkv * D, 11), [B, T, Hkv, D]);
        const before = [await readF32(rt, tdq), await readF32(rt, tdk), await readF32(rt, tdv)];
        rt.once(attentionForward(rt, { out: tout, lse: tlse, q: tq, k: tk, v: tv }));
        rt.once(attentionBackward(rt, { dq: tdq, dk: tdk, dv: tdv, dout: tdout, q: tq, k: tk, v: tv, out: tout, lse: tlse, delta: tdelta, accumulate: true }));
        const g = attentionBackwardRef({ B, T, Hq, Hkv, D }, f64(q), f64(k), f64(v), f64(dout));
        const want = [g.dq, g.dk, g.dv].map((x, i) => x.map((e, j) => e + before[i][j]));
        expectClose(await readF32(rt, tdq), want[0], F32.grad, 'dq');
        expectClose(await readF32(rt, tdk), want[1], F32.grad, 'dk');
        expectClose(await readF32(rt, tdv), want[2], F32.grad, 'dv');
        // Without accumulate the same buffers, holding the sums above, are overwritten: the fused
        // backward zeroes dq itself before adding into it.
        rt.once(attentionBackward(rt, { dq: tdq, dk: tdk, dv: tdv, dout: tdout, q: tq, k: tk, v: tv, out: tout, lse: tlse, delta: tdelta }));
        expectClose(await readF32(rt, tdq), g.dq, F32.grad, 'dq overwritten');
        expectClose(await readF32(rt, tdk), g.dk, F32.grad, 'dk overwritten');
        expectClose(await readF32(rt, tdv), g.dv, F32.grad, 'dv overwritten');
        rt.free(tq, tk, tv, tdout, tout, tlse, tdelta, tdq, tdk, tdv);
        await expectNoGpuErrors(rt);
      });
    });
  }

  it('reference backward matches finite differences (GQA, segments)', () => {
    const dims: AttnDims = { B: 2, T: 6, Hq: 4, Hkv: 2, D: 3, seg: segments('three', 2, 6), scale: 0.9 };
    const n = dims.B * dims.T * dims.D;
    const inputs = [f64(rand(n * dims.Hq, 21, -2, 2)), f64(rand(n * dims.Hkv, 22, -2, 2)), f64(rand(n * dims.Hkv, 23))];
    const dout = f64(rand(n * dims.Hq, 24));
    const err = finiteDifferenceError(
      ([q, k, v]) => attentionForwardRef(dims, q, k, v).out,
      ([q, k, v], d) => { const g = attentionBackwardRef(dims, q, k, v, d); return [g.dq, g.dk, g.dv]; },
      inputs, dout, { samples: 36 },
    );
    // Central differences at eps 1e-6 in f64: truncation ~1e-12, cancellation ~1e-10 relative.
    expect(err).toBeLessThan(1e-6);
  });

  it('rejects bad shapes before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const t = (shape: number[], dtype: 'f32' | 'i32' = 'f32', label = 'x') => rt.tensor(shape, dtype, label);
    const q = t([2, 5, 4, 8], 'f32', 'q'), k = t([2, 5, 2, 8], 'f32', 'k'), v = t([2, 5, 2, 8], 'f32', 'v');
    const out = t([2, 5, 4, 8], 'f32', 'out'), lse = t([2, 4, 5], 'f32', 'lse');
    const kD = t([2, 5, 2, 6], 'f32', 'k6'), k3 = t([2, 5, 3, 8], 'f32', 'k3'), badLse = t([2, 5, 4], 'f32', 'lseT');
    const seg = t([2, 4], 'i32', 'seg');
    expect(() => attentionForward(rt, { out, lse, q, k: kD, v })).toThrow(/attentionForward: k \(k6\) has shape \(2, 5, 2, 6\), expected \(2, 5, \*, 8\)/);
    expect(() => attentionForward(rt, { out, lse, q, k: k3, v: k3 })).toThrow(/attentionForward: q \(q\) has 4 heads \(shape \(2, 5, 4, 8\)\), not a multiple of the 3 kv heads of k \(k3\) \(2, 5, 3, 8\)/);
    expect(() => attentionForward(rt, { out, lse: badLse, q, k, v })).toThrow(/attentionForward: lse \(lseT\) has shape \(2, 5, 4\), expected \(2, 4, 5\)/);
    expect(() => attentionForward(rt, { out, lse, q, k, v, segmentIds: seg })).toThrow(/attentionForward: segmentIds \(seg\) has shape \(2, 4\), expected \(2, 5\)/);
    expect(() => attentionBackward(rt, { dq: out, dk: k, dv: v, dout: out, q, k, v, out, lse, delta: badLse })).toThrow(/attentionBackward: delta \(lseT\) has shape \(2, 5, 4\), expected \(2, 4, 5\)/);
    expect(() => attentionBackward(rt, { dq: k, dk: k, dv: v, dout: out, q, k, v, out, lse, delta: lse })).toThrow(/attentionBackward: dq \(k\) has shape \(2, 5, 2, 8\), expected \(2, 5, 4, 8\)/);
    rt.free(q, k, v, out, lse, kD, k3, badLse, seg);
    await expectNoGpuErrors(rt);
  });
});
