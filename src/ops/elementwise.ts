import { grid, type Dispatch, type Runtime } from '../gpu/runtime.ts';
import { numel, type Tensor } from '../gpu/tensor.ts';
import code from '../../shaders/elementwise.wgsl?raw';
import { ceilDiv, expectDType, expectNoAlias, expectSameShape } from './check.ts';

const WG = 256;

function elementwise(rt: Runtime, variant: 'fill' | 'scale' | 'axpy' | 'add', alpha: number, bindings: Record<number, Tensor>): Dispatch {
  const n = numel(bindings[1].shape);
  return rt.kernel({
    key: { kernel: 'elementwise', variant, dtype: 'f32', constants: { WG } },
    code,
    entryPoint: variant,
    bindings,
    params: [['u32', n], ['f32', alpha]],
    workgroups: grid(ceilDiv(n, WG)),
  });
}

/** y = value. */
export function fill(rt: Runtime, y: Tensor, value: number): Dispatch {
  expectDType('fill', 'y', y, 'f32');
  return elementwise(rt, 'fill', value, { 1: y });
}

/** y = alpha * x. */
export function scale(rt: Runtime, y: Tensor, x: Tensor, alpha: number): Dispatch {
  expectDType('scale', 'x', x, 'f32');
  expectSameShape('scale', ['y', 'x'], y, x);
  expectNoAlias('scale', 1, ['y', 'x'], y, x);
  return elementwise(rt, 'scale', alpha, { 1: y, 2: x });
}

/** y += alpha * x (gradient accumulation, residual adds). */
export function axpy(rt: Runtime, y: Tensor, x: Tensor, alpha = 1): Dispatch {
  expectDType('axpy', 'x', x, 'f32');
  expectSameShape('axpy', ['y', 'x'], y, x);
  expectNoAlias('axpy', 1, ['y', 'x'], y, x);
  return elementwise(rt, 'axpy', alpha, { 1: y, 2: x });
}

/** y = a + b. */
export function add(rt: Runtime, y: Tensor, a: Tensor, b: Tensor): Dispatch {
  expectDType('add', 'a', a, 'f32');
  expectSameShape('add', ['y', 'a', 'b'], y, a, b);
  expectNoAlias('add', 1, ['y', 'a', 'b'], y, a, b);
  return elementwise(rt, 'add', 0, { 1: y, 2: a, 3: b });
}
