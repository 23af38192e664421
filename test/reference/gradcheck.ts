// Finite-difference check of a float64 reference backward: for L = sum(forward(x) * dout), the
// reference's analytic gradients must equal central differences of L.

export type F64 = Float64Array;

/**
 * `forward(inputs)` returns the output; `backward(inputs, dout)` returns one gradient per input
 * listed in `wrt` (indices into inputs). Returns the worst relative error found.
 */
export function finiteDifferenceError(
  forward: (inputs: F64[]) => F64,
  backward: (inputs: F64[], dout: F64) => F64[],
  inputs: F64[],
  dout: F64,
  opts: { wrt?: number[]; eps?: number; samples?: number } = {},
): number {
  const wrt = opts.wrt ?? inputs.map((_, i) => i);
  const eps = opts.eps ?? 1e-6;
  const grads = backward(inputs, dout);
  const loss = (ins: F64[]) => {
    const out = forward(ins);
    let s = 0;
    for (let i = 0; i < out.length; i++) s += out[i] * dout[i];
    return s;
  };
  let worst = 0;
  wrt.forEach((inputIndex, gi) => {
    const x = inputs[inputIndex];
    const g = grads[gi];
    const samples = Math.min(x.length, opts.samples ?? 24);
    for (let s = 0; s < samples; s++) {
      const i = Math.floor((s * x.length) / samples);
      const keep = x[i];
      x[i] = keep + eps;
      const up = loss(inputs);
      x[i] = keep - eps;
      const down = loss(inputs);
      x[i] = keep;
      const numeric = (up - down) / (2 * eps);
      const err = Math.abs(numeric - g[i]) / Math.max(1e-3, Math.abs(numeric) + Math.abs(g[i]));
      worst = Math.max(worst, err);
    }
  });
  return worst;
}

export function f64(a: ArrayLike<number>): F64 {
  return Float64Array.from(a);
}
