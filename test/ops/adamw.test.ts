import { describe, it, expect } from 'vitest';
import { adamw, adamwHyper, buildDecayMask, decayMaskShape, type AdamWHyper } from '../../src/ops/adamw.ts';
import { gradNorm, partialsShape } from '../../src/ops/reduce.ts';
import { adamwRef } from '../reference/adamw.ts';
import { f64 } from '../reference/gradcheck.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';

// The GPU sees the hyper-parameters as f32, so the reference gets the same f32 values (storing
// them is the interface's precision, not the kernel's). Tolerances, per element and per step:
// m and v take ~3 f32 roundings (ulps of |g| and g²); the parameter takes ~3 roundings at its own
// magnitude, and the update lr·m̂/(√v̂+ε) a relative error of ~1e-5 from 1 − β2^t in f32 at small t
// (1 − β2² ≈ 0.002 after a rounding of 3e-8). Bounds are summed over the 3 steps, with margin 2.
const ULP = 2 ** -24;
const HYPER: Omit<AdamWHyper, 'step'> = { lr: Math.fround(0.01), beta1: Math.fround(0.9), beta2: Math.fround(0.999), eps: Math.fround(1e-8), weightDecay: Math.fround(0.1) };
const STEPS = 3;

interface AdamWOpts {
  P: number;
  seed: number;
  /** Decay on the first half of the elements, none on the rest (a "norms and biases" range). */
  ranges?: { offset: number; size: number; decay: boolean }[];
  /** gradScale tensor contents and the index the op reads. */
  scale?: { values: number[]; index: number };
  range?: { offset: number; size: number };
}

/** STEPS AdamW steps on seeded data, one dispatch built once and replayed, against the reference. */
async function checkAdamW(o: AdamWOpts): Promise<void> {
  const rt = await getRuntime();
  const { P } = o;
  const ranges = o.ranges ?? [{ offset: 0, size: Math.ceil(P / 2), decay: true }, { offset: Math.ceil(P / 2), size: P - Math.ceil(P / 2), decay: false }];
  const maskBits = buildDecayMask(P, ranges);
  const scale = o.scale ?? { values: [1], index: 0 };
  const p0 = rand(P, o.seed, -1, 1);
  const params = rt.upload(p0, [P], 'f32', 'params'), grads = rt.tensor([P], 'f32', 'grads');
  const m = rt.tensor([P], 'f32', 'm', true), v = rt.tensor([P], 'f32', 'v', true);
  const decayMask = rt.upload(maskBits, decayMaskShape(P), 'u32', 'decayMask');
  const hyper = rt.tensor([6], 'f32', 'hyper');
  const gradScale = rt.upload(scale.values, [scale.values.length], 'f32', 'gradScale');
  const d = adamw(rt, { params, grads, m, v, decayMask, hyper, gradScale, gradScaleIndex: scale.index, range: o.range });

  const rp = f64(p0), rm = new Float64Array(P), rv = new Float64Array(P);
  const decay = (i: number) => ((maskBits[i >>> 5] >>> (i & 31)) & 1) === 1;
  let gmax = 0;
  for (let step = 1; step <= STEPS; step++) {
    const g = rand(P, o.seed * 7 + step, -1, 1);
    // Every 7th gradient ~1e-8, so √v̂ is comparable to ε and where ε sits in the formula matters.
    for (let i = 0; i < P; i += 7) g[i] *= 1e-8;
    rt.write(grads, g);
    rt.write(hyper, adamwHyper({ ...HYPER, step })); // the schedule's only cost: a writeBuffer
    rt.run(d);
    adamwRef(rp, f64(g), rm, rv, decay, { ...HYPER, step }, Math.fround(scale.values[scale.index]), o.range);
    gmax = Math.max(gmax, Math.abs(scale.values[scale.index]));
  }
  rt.release(d);
  const [gp, gm, gv] = [await readF32(rt, params), await readF32(rt, m), await readF32(rt, v)];
  rt.free(params, grads, m, v, decayMask, hyper, gradScale);
  await expectNoGpuErrors(rt);

  expectClose(gm, rm, { atol: 2 * STEPS * 3 * ULP * gmax }, 'm');
  expectClose(gv, rv, { atol: 2 * STEPS * 3 * ULP * gmax * gmax }, 'v');
  expectClose(gp, rp, { atol: 2 * STEPS * (3 * ULP * 1.1 + HYPER.lr * 1e-5) }, 'params');
  if (o.range) {
    // Outside the range nothing moves, to the bit.
    const { offset, size } = o.range;
    for (const i of [0, offset - 1, offset + size, P - 1]) if (i >= 0 && (i < offset || i >= offset + size)) expect(gp[i]).toBe(p0[i]);
  }
}

describe('adamw', () => {
  for (const P of [1, 33, 100_003]) {
    it(`P=${P}: ${STEPS} steps, masked decay, gradScale < 1 read at an index`, () => checkAdamW({ P, seed: P, scale: { values: [0.5, 0.3], index: 1 } }));
  }

  it('all decayed, gradScale 1', () => checkAdamW({ P: 1000, seed: 2, ranges: [{ offset: 0, size: 1000, decay: true }] }));

  it('a range of the buffer (trainable part only), mask indexed over the whole buffer', () =>
    checkAdamW({ P: 4099, seed: 3, range: { offset: 33, size: 2000 }, ranges: [{ offset: 0, size: 1000, decay: true }, { offset: 2500, size: 1599, decay: true }] }));

  // Offset and size multiples of 4 take main4 (a vec4 per invocation): decay boundaries inside a
  // vec4 and inside a mask word check its per-element bits.
  it('the vec4 path: a range at a multiple of 4, decay switching inside a vec4', () =>
    checkAdamW({ P: 4100, seed: 4, range: { offset: 36, size: 2000 }, ranges: [{ offset: 0, size: 1001, decay: true }, { offset: 1502, size: 2598, decay: true }] }));

  it('decayed vs not: weight decay shrinks only masked parameters (zero gradient)', async () => {
    const rt = await getRuntime();
    const params = rt.upload([2, 2, 2], [3], 'f32', 'params'), grads = rt.upload([0, 0, 0], [3], 'f32', 'grads');
    const m = rt.tensor([3], 'f32', 'm', true), v = rt.tensor([3], 'f32', 'v', true);
    const decayMask = rt.upload(buildDecayMask(3, [{ offset: 0, size: 3, decay: true }, { offset: 1, size: 1, decay: false }]), [1], 'u32', 'mask');
    const hyper = rt.upload(adamwHyper({ ...HYPER, step: 1 }), [6], 'f32', 'hyper'), gradScale = rt.upload([1], [1], 'f32', 'gs');
    rt.once(adamw(rt, { params, grads, m, v, decayMask, hyper, gradScale }));
    const p = await readF32(rt, params);
    expect(Array.from(p)).toEqual([Math.fround(2 * Math.fround(1 - Math.fround(HYPER.lr * HYPER.weightDecay))), 2, p[0]]);
    expect(p[0]).toBeLessThan(2);
    rt.free(params, grads, m, v, decayMask, hyper, gradScale);
    await expectNoGpuErrors(rt);
  });

  it('clipping: gradNorm out bound directly as gradScale (index 1)', async () => {
    const rt = await getRuntime();
    const P = 5000;
    const g = rand(P, 41, -1, 1), p0 = rand(P, 42);
    const params = rt.upload(p0, [P], 'f32', 'params'), grads = rt.upload(g, [P], 'f32', 'grads');
    const m = rt.tensor([P], 'f32', 'm', true), v = rt.tensor([P], 'f32', 'v', true);
    const decayMask = rt.upload(buildDecayMask(P, [{ offset: 0, size: P, decay: true }]), decayMaskShape(P), 'u32', 'mask');
    const hyper = rt.upload(adamwHyper({ ...HYPER, step: 1 }), [6], 'f32', 'hyper');
    const normOut = rt.tensor([2], 'f32', 'normOut'), partials = rt.tensor(partialsShape(P), 'f32', 'partials');
    rt.once([...gradNorm(rt, { out: normOut, grads, partials, maxNorm: 1 }), ...adamw(rt, { params, grads, m, v, decayMask, hyper, gradScale: normOut, gradScaleIndex: 1 })]);
    const [norm, clip] = await readF32(rt, normOut);
    const gm = await readF32(rt, m);
    expect(norm).toBeGreaterThan(1);
    expectClose([clip], [1 / (norm + 1e-6)], { atol: 0, rtol: 2 * ULP }, 'clip scale');
    const rp = f64(p0), rm = new Float64Array(P), rv = new Float64Array(P);
    adamwRef(rp, f64(g), rm, rv, () => true, { ...HYPER, step: 1 }, clip);
    expectClose(gm, rm, { atol: 2 * 3 * ULP * clip }, 'm (clipped gradient)');
    expectClose(await readF32(rt, params), rp, { atol: 2 * (3 * ULP * 1.1 + HYPER.lr * 1e-5) }, 'params');
    rt.free(params, grads, m, v, decayMask, hyper, normOut, partials);
    await expectNoGpuErrors(rt);
  });

  it('buildDecayMask sets bit i where decay applies; uncovered elements are not decayed', () => {
    const mask = buildDecayMask(70, [{ offset: 0, size: 40, decay: true }, { offset: 31, size: 2, decay: false }, { offset: 64, size: 3, decay: true }]);
    expect(mask.length).toBe(3);
    const bits = Array.from({ length: 70 }, (_, i) => (mask[i >>> 5] >>> (i & 31)) & 1);
    expect(bits).toEqual(Array.from({ length: 70 }, (_, i) => ((i < 40 && i !== 31 && i !== 32) || (i >= 64 && i < 67) ? 1 : 0)));
    expect(() => buildDecayMask(70, [{ offset: 60, size: 11, decay: true }])).toThrow(/buildDecayMask: range \[60, 71\) is outside the 70 parameters/);
  });

  it('rejects bad arguments before dispatch, naming op, argument and shapes', async () => {
    const rt = await getRuntime();
    const P = 100;
    const t = (shape: number[], label: string, dtype: 'f32' | 'u32' = 'f32') => rt.tensor(shape, dtype, label);
    const ok = { params: t([P], 'params'), grads: t([P], 'grads'), m: t([P], 'm'), v: t([P], 'v'), decayMask: t([4], 'mask', 'u32'), hyper: t([6], 'hyper'), gradScale: t([2], 'gs') };
    const bad = { grads: t([P + 1], 'grads2'), mask: t([3], 'mask3', 'u32'), fmask: t([4], 'fmask'), hyper: t([5], 'hyper5') };
    expect(() => adamw(rt, { ...ok, grads: bad.grads })).toThrow(/adamw: grads \(grads2\) has shape \(101\) but params has \(100\)/);
    expect(() => adamw(rt, { ...ok, decayMask: bad.mask })).toThrow(/adamw: decayMask \(mask3\) has 3 elements \(shape \(3\)\), expected 4/);
    expect(() => adamw(rt, { ...ok, decayMask: bad.fmask })).toThrow(/adamw: decayMask \(fmask\) has dtype f32, expected u32/);
    expect(() => adamw(rt, { ...ok, hyper: bad.hyper })).toThrow(/adamw: hyper \(hyper5\) has 5 elements/);
    expect(() => adamw(rt, { ...ok, gradScaleIndex: 2 })).toThrow(/adamw: gradScaleIndex 2 is outside gradScale \(gs\) of 2 elements/);
    expect(() => adamw(rt, { ...ok, range: { offset: 90, size: 20 } })).toThrow(/adamw: range \[90, 110\) is not a non-empty part of the 100 parameters/);
    expect(() => adamwHyper({ ...HYPER, step: 0 })).toThrow(/step must be a positive integer/);
    rt.free(...Object.values(ok), ...Object.values(bad));
    await expectNoGpuErrors(rt);
  });
});
