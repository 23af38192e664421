// float64 references for LayerNorm and RMSNorm over rows of C channels (N rows), forward and
// analytic backward, written the plain way (no reuse of the kernels' algebra beyond the formulas).
import type { F64 } from './gradcheck.ts';

export function layerNormRef(x: F64, w: F64, b: F64, N: number, C: number, eps = 1e-5): { out: F64; mean: F64; rstd: F64 } {
  const out = new Float64Array(N * C), mean = new Float64Array(N), rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let m = 0;
    for (let c = 0; c < C; c++) m += x[n * C + c];
    m /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[n * C + c] - m) ** 2;
    const r = 1 / Math.sqrt(v / C + eps);
    for (let c = 0; c < C; c++) out[n * C + c] = (x[n * C + c] - m) * r * w[c] + b[c];
    mean[n] = m;
    rstd[n] = r;
  }
  return { out, mean, rstd };
}

export function layerNormBackwardRef(dout: F64, x: F64, w: F64, N: number, C: number, eps = 1e-5): { dinp: F64; dweight: F64; dbias: F64 } {
  const { mean, rstd } = layerNormRef(x, w, new Float64Array(C), N, C, eps);
  const dinp = new Float64Array(N * C), dweight = new Float64Array(C), dbias = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    let sumD = 0, sumDX = 0;
    const xh = (c: number) => (x[n * C + c] - mean[n]) * rstd[n];
    for (let c = 0; c < C; c++) {
      const d = w[c] * dout[n * C + c];
      sumD += d;
      sumDX += d * xh(c);
    }
    for (let c = 0; c < C; c++) {
      const g = dout[n * C + c];
      dinp[n * C + c] = rstd[n] * (w[c] * g - sumD / C - xh(c) * (sumDX / C));
      dweight[c] += g * xh(c);
      dbias[c] += g;
    }
  }
  return { dinp, dweight, dbias };
}

export function rmsNormRef(x: F64, w: F64, N: number, C: number, eps = 1e-6): { out: F64; rstd: F64 } {
  const out = new Float64Array(N * C), rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss += x[n * C + c] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    for (let c = 0; c < C; c++) out[n * C + c] = w[c] * x[n * C + c] * r;
    rstd[n] = r;
  }
  return { out, rstd };
}

export function rmsNormBackwardRef(dout: F64, x: F64, w: F64, N: number, C: number, eps = 1e-6): { dinp: F64; dweight: F64 } {
  const { rstd } = rmsNormRef(x, w, N, C, eps);
  const dinp = new Float64Array(N * C), dweight = new Float64Array(C);
  for (let n = 0; n < N; n++) {
    const r = rstd[n];
    let s = 0;
    for (let c = 0; c < C; c++) s += w[c] * dout[n * C + c] * x[n * C + c];
    for (let c = 0; c < C; c++) {
      const g = dout[n * C + c], xi = x[n * C + c];
      // d(r)/d(x_i) = -r³ x_i / C
      dinp[n * C + c] = r * w[c] * g - (r * r * r * xi * s) / C;
      dweight[c] += g * xi * r;
    }
  }
  return { dinp, dweight };
}
