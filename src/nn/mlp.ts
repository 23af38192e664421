// MLP sublayer: SwiGLU down(silu(gate(x))·up(x)) (llama, qwen2) or proj(gelu_new(fc(x))) (gpt2),
// added into the residual stream. Letters as in src/nn/types.ts.
import type { Step } from '../gpu/runtime.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { geluBackward, geluForward, swigluBackward, swigluForward } from '../ops/activation.ts';
import type { LayerContext } from './context.ts';
import { linearBackward, linearForward, linearForwardMany } from './linear.ts';
import type { MlpNames } from './types.ts';

/** What the MLP keeps for its backward. */
export interface MlpSaved {
  pre: Tensor; // (N, F): gate (SwiGLU) or fc output (GELU)
  up?: Tensor; // (N, F): SwiGLU's up projection
  h: Tensor; // (N, F): the activation, input of down / proj
}

/**
 * The inner activations h; with `out`, also out += down(h) (the residual add). The recomputing
 * backward stops at h: the block's output is not needed to go back.
 */
export function mlpForward(
  ctx: LayerContext,
  names: MlpNames,
  a: {
    out?: Tensor; // (N, C), accumulated into
    s: MlpSaved;
    inp: Tensor; // (N, C), the normalised input
  },
): Step[] {
  const { rt, w, layout } = ctx;
  const { s } = a;
  const steps: Step[] = [];
  let down;
  if ('gate' in names) {
    const parts = [
      { out: s.pre, weight: w.p(names.gate.weight), bias: w.p(names.gate.bias) },
      { out: s.up!, weight: w.p(names.up.weight), bias: w.p(names.up.bias) },
    ];
    steps.push(...linearForwardMany(rt, { inp: a.inp, parts, layout }));
    steps.push(...swigluForward(rt, { out: s.h, gate: s.pre, up: s.up! }));
    down = names.down;
  } else {
    steps.push(...linearForward(rt, { out: s.pre, inp: a.inp, weight: w.p(names.fc.weight), bias: w.p(names.fc.bias), layout }));
    steps.push(...geluForward(rt, { out: s.h, inp: s.pre }));
    down = names.proj;
  }
  if (a.out) steps.push(...linearForward(rt, { out: a.out, inp: s.h, weight: w.p(down.weight), bias: w.p(down.bias), layout, accumulate: true }));
  return steps;
}

/** dinp = the normalised input's gradient (overwritten); parameter gradients +=. */
export function mlpBackward(
  ctx: LayerContext,
  names: MlpNames,
  a: {
    dinp: Tensor; // (N, C), overwritten
    dout: Tensor; // (N, C)
    s: MlpSaved;
    inp: Tensor; // (N, C)
  },
): Step[] {
  const { rt, w, layout, ones } = ctx;
  const { s } = a;
  const { dh, dpre, dup } = ctx.scratch;
  const steps: Step[] = [];
  const down = 'gate' in names ? names.down : names.proj;
  steps.push(...linearBackward(rt, { dinp: dh, dweight: w.g(down.weight), dbias: w.g(down.bias), dout: a.dout, inp: s.h, weight: w.p(down.weight), ones, layout }));
  if ('gate' in names) {
    steps.push(...swigluBackward(rt, { dgate: dpre, dup: dup!, dout: dh, gate: s.pre, up: s.up! }));
    steps.push(...linearBackward(rt, { dinp: a.dinp, dweight: w.g(names.gate.weight), dbias: w.g(names.gate.bias), dout: dpre, inp: a.inp, weight: w.p(names.gate.weight), ones, layout }));
    steps.push(...linearBackward(rt, { dinp: a.dinp, accumulateInput: true, dweight: w.g(names.up.weight), dbias: w.g(names.up.bias), dout: dup!, inp: a.inp, weight: w.p(names.up.weight), ones, layout }));
  } else {
    steps.push(...geluBackward(rt, { dinp: dpre, dout: dh, inp: s.pre }));
    steps.push(...linearBackward(rt, { dinp: a.dinp, dweight: w.g(names.fc.weight), dbias: w.g(names.fc.bias), dout: dpre, inp: a.inp, weight: w.p(names.fc.weight), ones, layout }));
  }
  return steps;
}
