// MLP activations, elementwise: GELU (GPT-2's tanh approximation, gelu_new) and SwiGLU (Llama).
//   N  rows (B·T tokens)
//   F  MLP hidden width (any shape works: the kernels see numel values)
// Shaders: shaders/activation.wgsl.
import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/activation.wgsl?raw';
import { ceilDiv, expectBindable, expectDType, expectNoAlias, expectPositiveInt, expectSameShape } from './check.ts';

const WG = 256;

function check(rt: Runtime, op: string, written: number, names: string[], ts: Tensor[]): number {
  names.forEach((name, i) => expectDType(op, name, ts[i], 'f32'));
  expectSameShape(op, names, ...ts);
  ts[0].shape.forEach((d, i) => expectPositiveInt(op, `${names[0]} (${ts[0].label}) dimension ${i}`, d));
  expectNoAlias(op, written, names, ...ts);
  expectBindable(op, rt.limits, names, ...ts);
  return numel(ts[0].shape);
}

function kernel(rt: Runtime, entry: string, n: number, accumulate: boolean | undefined, bindings: Record<number, Tensor>): Dispatch[] {
  return [
    rt.kernel({
      key: { kernel: 'activation', variant: entry, dtype: 'f32', constants: { WG } },
      code,
      entryPoint: entry,
      bindings,
      params: [['u32', n], ['u32', accumulate ? 1 : 0]],
      workgroups: grid(ceilDiv(n, WG)),
    }),
  ];
}

/** out = 0.5 · inp · (1 + tanh(sqrt(2/π) · (inp + 0.044715 · inp³))). */
export function geluForward(
  rt: Runtime,
  a: {
    out: Tensor; // (N, F)
    inp: Tensor; // (N, F)
  },
): Dispatch[] {
  const n = check(rt, 'geluForward', 1, ['out', 'inp'], [a.out, a.inp]);
  return kernel(rt, 'gelu_forward', n, false, { 1: a.out, 2: a.inp });
}

/** dinp = (or += with `accumulate`) dout · gelu'(inp). */
export function geluBackward(
  rt: Runtime,
  a: {
    dinp: Tensor; // (N, F)
    dout: Tensor; // (N, F)
    inp: Tensor; // (N, F)
    accumulate?: boolean;
  },
): Dispatch[] {
  const n = check(rt, 'geluBackward', 1, ['dinp', 'dout', 'inp'], [a.dinp, a.dout, a.inp]);
  return kernel(rt, 'gelu_backward', n, a.accumulate, { 3: a.dinp, 4: a.dout, 2: a.inp });
}

/** out = silu(gate) · up, silu(g) = g · sigmoid(g). */
export function swigluForward(
  rt: Runtime,
  a: {
    out: Tensor; // (N, F)
    gate: Tensor; // (N, F)
    up: Tensor; // (N, F)
  },
): Dispatch[] {
  const n = check(rt, 'swigluForward', 1, ['out', 'gate', 'up'], [a.out, a.gate, a.up]);
  if (n % 4 === 0) return kernel(rt, 'swiglu_forward4', n / 4, false, { 9: a.out, 11: a.gate, 12: a.up });
  return kernel(rt, 'swiglu_forward', n, false, { 1: a.out, 5: a.gate, 6: a.up });
}

/** dgate, dup = (or += with `accumulate`) the gradients of silu(gate) · up. */
export function swigluBackward(
  rt: Runtime,
  a: {
    dgate: Tensor; // (N, F)
    dup: Tensor; // (N, F)
    dout: Tensor; // (N, F)
    gate: Tensor; // (N, F)
    up: Tensor; // (N, F)
    accumulate?: boolean;
  },
): Dispatch[] {
  const n = check(rt, 'swigluBackward', 2, ['dgate', 'dup', 'dout', 'gate', 'up'], [a.dgate, a.dup, a.dout, a.gate, a.up]);
  if (n % 4 === 0) return kernel(rt, 'swiglu_backward4', n / 4, a.accumulate, { 13: a.dgate, 14: a.dup, 10: a.dout, 11: a.gate, 12: a.up });
  return kernel(rt, 'swiglu_backward', n, a.accumulate, { 7: a.dgate, 8: a.dup, 4: a.dout, 5: a.gate, 6: a.up });
}
