import { describe, expect, it } from 'vitest';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { linearForward, linearForwardMany } from '../../src/nn/linear.ts';
import { Activations } from '../../src/nn/plan.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { expectClose, expectNoGpuErrors, getRuntime, rand, readF32 } from '../helpers/gpu.ts';

// q, k, v of 16 rows × 16 features from 32 inputs: each output is 256 elements (1 KiB, aligned
// for binding), so a group of three lies back to back; each weight is 512 elements (aligned to
// the parameter layout's 64), so the weights do too.
const [M, I, O] = [16, 32, 16];

async function setup(bias: boolean, groups: string[][], qOut = O) {
  const rt = await getRuntime();
  const names = ['q', 'k', 'v'];
  const out = (n: string) => (n === 'q' ? qOut : O);
  const specs = names.flatMap((n) => [
    { name: `${n}.weight`, shape: [out(n), I], decay: true, init: { kind: 'zeros' as const } },
    ...(bias ? [{ name: `${n}.bias`, shape: [O], decay: false, init: { kind: 'zeros' as const } }] : []),
  ]);
  const store = new ParamStore(rt, new ParamLayout(specs));
  store.load(new Map(specs.map((s, i) => [s.name, rand(s.shape.reduce((a, b) => a * b, 1), 10 + i)])));
  const acts = new Activations(rt, Object.fromEntries(names.map((n) => [n, [M, out(n)]])), {}, groups);
  const inp = rt.upload(rand(M * I, 3), [M, I], 'f32', 'x');
  const parts = names.map((n) => ({ out: acts.get(n), weight: store.param(`${n}.weight`), bias: bias ? store.param(`${n}.bias`) : undefined }));
  return { rt, store, acts, inp, parts };
}

/** Each part as its own matmul, into fresh tensors: what the fused path must equal. */
async function separately(s: Awaited<ReturnType<typeof setup>>): Promise<Float32Array[]> {
  const outs: Tensor[] = s.parts.map((p) => s.rt.tensor(p.out.shape, 'f32', `sep ${p.out.label}`));
  s.rt.once(s.parts.flatMap((p, i) => linearForward(s.rt, { ...p, out: outs[i], inp: s.inp })));
  const r = await Promise.all(outs.map((t) => readF32(s.rt, t)));
  s.rt.free(...outs);
  return r;
}

describe('linearForwardMany (q, k, v or gate, up of one input)', () => {
  // Same products in the same order per output element, by the same kernel family: f32 equal to
  // rounding (1e-6 over 32-term dot products of values in [-1, 1]).
  const TOL = { atol: 1e-5, rtol: 1e-6 };

  it('runs back-to-back outputs and weights as one batched matmul, equal to one matmul each', async () => {
    const s = await setup(false, [['q', 'k', 'v']]);
    expect(s.acts.get('k').byteOffset - s.acts.get('q').byteOffset).toBe(M * O * 4);
    const steps = linearForwardMany(s.rt, { inp: s.inp, parts: s.parts });
    expect(steps).toHaveLength(1);
    s.rt.once(steps);
    const want = await separately(s);
    for (let i = 0; i < 3; i++) expectClose(await readF32(s.rt, s.parts[i].out), want[i], TOL, s.parts[i].out.label);
    await expectNoGpuErrors(s.rt);
    s.acts.destroy(); s.store.destroy(); s.rt.free(s.inp);
  });

  it('grouped-query heads: q on its own, then k and v as one batched matmul', async () => {
    const s = await setup(false, [['q', 'k', 'v']], 2 * O);
    const steps = linearForwardMany(s.rt, { inp: s.inp, parts: s.parts });
    expect(steps).toHaveLength(2);
    s.rt.once(steps);
    const want = await separately(s);
    for (let i = 0; i < 3; i++) expectClose(await readF32(s.rt, s.parts[i].out), want[i], TOL, s.parts[i].out.label);
    s.acts.destroy(); s.store.destroy(); s.rt.free(s.inp);
  });

  it('falls back to one matmul per part with biases, or when the outputs are apart', async () => {
    for (const [bias, groups] of [[true, [['q', 'k', 'v']]], [false, []]] as const) {
      const s = await setup(bias, groups.map((g) => [...g]));
      const steps = linearForwardMany(s.rt, { inp: s.inp, parts: s.parts });
      expect(steps, `bias ${bias}, grouped ${groups.length > 0}`).toHaveLength(3);
      s.rt.once(steps);
      const want = await separately(s);
      for (let i = 0; i < 3; i++) expectClose(await readF32(s.rt, s.parts[i].out), want[i], TOL, s.parts[i].out.label);
      s.acts.destroy(); s.store.destroy(); s.rt.free(s.inp);
    }
  });
});
