// A tiny reverse-mode autograd over Float64Array tensors, just big enough for the three reference
// transformers. Every op computes its output eagerly and records a closure that, run in reverse
// order, accumulates (+=) the output's gradient into its inputs' gradients. Tensors are row-major;
// 2-D shapes (N, K) with N = B·T rows unless written otherwise. Loops are plain and unoptimised on
// purpose: this is the ground truth the GPU engine is checked against, so it must be easy to read.

export class Var {
  readonly grad: Float64Array;
  constructor(
    readonly data: Float64Array,
    readonly shape: number[],
  ) {
    this.grad = new Float64Array(data.length);
  }
  get size(): number {
    return this.data.length;
  }
}

/** Linear weight layouts: torch nn.Linear stores (out, in); GPT-2's Conv1D stores (in, out). */
export type Layout = 'out_in' | 'in_out';

export class Tape {
  private readonly backs: (() => void)[] = [];

  /** A leaf (parameter or input); its `grad` fills in on `backward`. */
  leaf(data: Float64Array, shape: number[]): Var {
    if (data.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`leaf: ${data.length} values for shape [${shape}]`);
    return new Var(data, shape);
  }

  /** d(out)/d(everything) with d(out) = 1; `out` must be a scalar. */
  backward(out: Var): void {
    if (out.size !== 1) throw new Error('backward: output must be a scalar');
    out.grad[0] = 1;
    for (let i = this.backs.length - 1; i >= 0; i--) this.backs[i]();
  }

  private node(data: Float64Array, shape: number[], back: (g: Float64Array) => void): Var {
    const out = new Var(data, shape);
    this.backs.push(() => back(out.grad));
    return out;
  }

  /** y = x·Wᵀ + b (out_in) or x·W + b (in_out). x (N, K) → y (N, M). */
  linear(x: Var, w: Var, b: Var | null, layout: Layout): Var {
    const [N, K] = x.shape;
    const M = w.size / K;
    if (layout === 'out_in' ? w.shape[1] !== K : w.shape[0] !== K) throw new Error(`linear: x [${x.shape}] vs w [${w.shape}] (${layout})`);
    // W[m, k] sits at m·K + k (out_in) or k·M + m (in_out): strides of m and k.
    const [sm, sk] = layout === 'out_in' ? [K, 1] : [1, M];
    const X = x.data, W = w.data;
    const y = new Float64Array(N * M);
    for (let n = 0; n < N; n++)
      for (let m = 0; m < M; m++) {
        let s = b ? b.data[m] : 0;
        for (let k = 0; k < K; k++) s += X[n * K + k] * W[m * sm + k * sk];
        y[n * M + m] = s;
      }
    return this.node(y, [N, M], (g) => {
      for (let n = 0; n < N; n++)
        for (let m = 0; m < M; m++) {
          const gy = g[n * M + m];
          if (gy === 0) continue;
          if (b) b.grad[m] += gy;
          for (let k = 0; k < K; k++) {
            x.grad[n * K + k] += gy * W[m * sm + k * sk];
            w.grad[m * sm + k * sk] += gy * X[n * K + k];
          }
        }
    });
  }

  add(a: Var, b: Var): Var {
    if (a.size !== b.size) throw new Error(`add: [${a.shape}] vs [${b.shape}]`);
    const y = a.data.map((v, i) => v + b.data[i]);
    return this.node(y, a.shape, (g) => {
      for (let i = 0; i < g.length; i++) (a.grad[i] += g[i]), (b.grad[i] += g[i]);
    });
  }

  mul(a: Var, b: Var): Var {
    if (a.size !== b.size) throw new Error(`mul: [${a.shape}] vs [${b.shape}]`);
    const y = a.data.map((v, i) => v * b.data[i]);
    return this.node(y, a.shape, (g) => {
      for (let i = 0; i < g.length; i++) (a.grad[i] += g[i] * b.data[i]), (b.grad[i] += g[i] * a.data[i]);
    });
  }

  /** Elementwise f with derivative df, both of the input value. */
  private unary(x: Var, f: (v: number) => number, df: (v: number) => number): Var {
    return this.node(x.data.map(f), x.shape, (g) => {
      for (let i = 0; i < g.length; i++) x.grad[i] += g[i] * df(x.data[i]);
    });
  }

  /** silu(x) = x·σ(x) (torch.nn.functional.silu, Llama's hidden_act). */
  silu(x: Var): Var {
    const sig = (v: number) => 1 / (1 + Math.exp(-v));
    return this.unary(x, (v) => v * sig(v), (v) => sig(v) * (1 + v * (1 - sig(v))));
  }

  /** gelu_new (transformers NewGELUActivation): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
  geluNew(x: Var): Var {
    const c = Math.sqrt(2 / Math.PI);
    return this.unary(
      x,
      (v) => 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v ** 3))),
      (v) => {
        const t = Math.tanh(c * (v + 0.044715 * v ** 3));
        return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v);
      },
    );
  }

  /** Rows of `table` (V, C) picked by `idx` (N) → (N, C). */
  gather(table: Var, idx: ArrayLike<number>): Var {
    const [V, C] = table.shape;
    const N = idx.length;
    const y = new Float64Array(N * C);
    for (let n = 0; n < N; n++) {
      if (!(idx[n] >= 0 && idx[n] < V)) throw new Error(`gather: index ${idx[n]} at ${n} outside [0, ${V})`);
      y.set(table.data.subarray(idx[n] * C, idx[n] * C + C), n * C);
    }
    return this.node(y, [N, C], (g) => {
      for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) table.grad[idx[n] * C + c] += g[n * C + c];
    });
  }

  /** Columns [start, start + width) of x (N, W) → (N, width): GPT-2 splits its fused c_attn. */
  columns(x: Var, start: number, width: number): Var {
    const [N, W] = x.shape;
    const y = new Float64Array(N * width);
    for (let n = 0; n < N; n++) for (let j = 0; j < width; j++) y[n * width + j] = x.data[n * W + start + j];
    return this.node(y, [N, width], (g) => {
      for (let n = 0; n < N; n++) for (let j = 0; j < width; j++) x.grad[n * W + start + j] += g[n * width + j];
    });
  }

  /** RMSNorm (LlamaRMSNorm): w · x / sqrt(mean(x²) + eps) per row of x (N, C). */
  rmsnorm(x: Var, w: Var, eps: number): Var {
    const [N, C] = x.shape;
    const y = new Float64Array(N * C);
    const rstd = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      let ss = 0;
      for (let c = 0; c < C; c++) ss += x.data[n * C + c] ** 2;
      rstd[n] = 1 / Math.sqrt(ss / C + eps);
      for (let c = 0; c < C; c++) y[n * C + c] = w.data[c] * x.data[n * C + c] * rstd[n];
    }
    return this.node(y, [N, C], (g) => {
      for (let n = 0; n < N; n++) {
        // xhat = x·r; dxhat = g·w; dx = r·(dxhat − xhat·mean(dxhat·xhat))
        let dot = 0;
        for (let c = 0; c < C; c++) {
          const i = n * C + c;
          w.grad[c] += g[i] * x.data[i] * rstd[n];
          dot += g[i] * w.data[c] * x.data[i] * rstd[n];
        }
        for (let c = 0; c < C; c++) {
          const i = n * C + c;
          x.grad[i] += rstd[n] * (g[i] * w.data[c] - x.data[i] * rstd[n] * (dot / C));
        }
      }
    });
  }

  /** LayerNorm (torch, biased variance): w · (x − mean)/sqrt(var + eps) + b per row of x (N, C). */
  layernorm(x: Var, w: Var, b: Var, eps: number): Var {
    const [N, C] = x.shape;
    const y = new Float64Array(N * C);
    const xhat = new Float64Array(N * C);
    const rstd = new Float64Array(N);
    for (let n = 0; n < N; n++) {
      let mean = 0, v = 0;
      for (let c = 0; c < C; c++) mean += x.data[n * C + c] / C;
      for (let c = 0; c < C; c++) v += (x.data[n * C + c] - mean) ** 2 / C;
      rstd[n] = 1 / Math.sqrt(v + eps);
      for (let c = 0; c < C; c++) {
        const i = n * C + c;
        xhat[i] = (x.data[i] - mean) * rstd[n];
        y[i] = w.data[c] * xhat[i] + b.data[c];
      }
    }
    return this.node(y, [N, C], (g) => {
      for (let n = 0; n < N; n++) {
        // dx = r·(dxhat − mean(dxhat) − xhat·mean(dxhat·xhat))
        let m1 = 0, m2 = 0;
        for (let c = 0; c < C; c++) {
          const i = n * C + c;
          w.grad[c] += g[i] * xhat[i];
          b.grad[c] += g[i];
          m1 += (g[i] * w.data[c]) / C;
          m2 += (g[i] * w.data[c] * xhat[i]) / C;
        }
        for (let c = 0; c < C; c++) {
          const i = n * C + c;
          x.grad[i] += rstd[n] * (g[i] * w.data[c] - m1 - xhat[i] * m2);
        }
      }
    });
  }

  /**
   * Rotate-half RoPE on x (N, H·D): pair (i, i + D/2) of every head turns by positions[n]·invFreq[i].
   * A rotation, so the backward is the same turn by the opposite angle.
   */
  rope(x: Var, H: number, D: number, positions: ArrayLike<number>, invFreq: Float64Array): Var {
    const N = x.shape[0], half = D / 2;
    const turn = (src: Float64Array, dst: Float64Array, sign: number) => {
      for (let n = 0; n < N; n++)
        for (let i = 0; i < half; i++) {
          const th = positions[n] * invFreq[i];
          const c = Math.cos(th), s = sign * Math.sin(th);
          for (let h = 0; h < H; h++) {
            const o = (n * H + h) * D + i;
            dst[o] += src[o] * c - src[o + half] * s;
            dst[o + half] += src[o + half] * c + src[o] * s;
          }
        }
    };
    const y = new Float64Array(x.size);
    turn(x.data, y, 1);
    return this.node(y, x.shape, (g) => turn(g, x.grad, -1));
  }

  /**
   * Softmax attention of q (B·T, Hq·D) over k, v (B·T, Hkv·D), scores scaled by `scale`. Query
   * head h reads key/value head floor(h / (Hq/Hkv)), as transformers' repeat_kv. Query t of a row
   * sees key s iff s ≤ t and segmentIds[s] = segmentIds[t] (packed sequences; padding, segment 0,
   * is one more segment). Returns (B·T, Hq·D).
   */
  attention(q: Var, k: Var, v: Var, dims: { B: number; T: number; Hq: number; Hkv: number; D: number }, segmentIds: ArrayLike<number>, scale: number): Var {
    const { B, T, Hq, Hkv, D } = dims;
    const rep = Hq / Hkv;
    const qi = (b: number, t: number, h: number) => ((b * T + t) * Hq + h) * D;
    const ki = (b: number, t: number, h: number) => ((b * T + t) * Hkv + Math.floor(h / rep)) * D;
    const sees = (b: number, t: number, s: number) => segmentIds[b * T + s] === segmentIds[b * T + t];
    const P = new Float64Array(B * Hq * T * T); // softmax probabilities, 0 where masked
    const y = new Float64Array(B * T * Hq * D);
    for (let b = 0; b < B; b++)
      for (let h = 0; h < Hq; h++)
        for (let t = 0; t < T; t++) {
          const p = P.subarray(((b * Hq + h) * T + t) * T, ((b * Hq + h) * T + t + 1) * T);
          let max = -Infinity;
          for (let s = 0; s <= t; s++) {
            if (!sees(b, t, s)) continue;
            let dot = 0;
            for (let d = 0; d < D; d++) dot += q.data[qi(b, t, h) + d] * k.data[ki(b, s, h) + d];
            p[s] = dot * scale;
            max = Math.max(max, p[s]);
          }
          let sum = 0;
          for (let s = 0; s <= t; s++) if (sees(b, t, s)) sum += p[s] = Math.exp(p[s] - max);
          for (let s = 0; s <= t; s++) {
            if (!sees(b, t, s)) continue;
            p[s] /= sum;
            for (let d = 0; d < D; d++) y[qi(b, t, h) + d] += p[s] * v.data[ki(b, s, h) + d];
          }
        }
    return this.node(y, [B * T, Hq * D], (g) => {
      const dp = new Float64Array(T);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < Hq; h++)
          for (let t = 0; t < T; t++) {
            const p = P.subarray(((b * Hq + h) * T + t) * T, ((b * Hq + h) * T + t + 1) * T);
            const o = qi(b, t, h);
            let pdp = 0;
            for (let s = 0; s <= t; s++) {
              dp[s] = 0;
              for (let d = 0; d < D; d++) {
                dp[s] += g[o + d] * v.data[ki(b, s, h) + d];
                v.grad[ki(b, s, h) + d] += p[s] * g[o + d];
              }
              pdp += p[s] * dp[s];
            }
            for (let s = 0; s <= t; s++) {
              const ds = p[s] * (dp[s] - pdp) * scale; // masked keys have p = 0, so ds = 0
              for (let d = 0; d < D; d++) {
                q.grad[o + d] += ds * k.data[ki(b, s, h) + d];
                k.grad[ki(b, s, h) + d] += ds * q.data[o + d];
              }
            }
          }
    });
  }

  /**
   * Mean cross-entropy of logits (N, V) over rows whose target is not -100 → scalar. With no
   * target at all the loss is 0 (transformers would give NaN; 0 keeps accumulation sums sane).
   */
  crossEntropy(logits: Var, targets: ArrayLike<number>): Var {
    const [N, V] = logits.shape;
    let count = 0;
    for (let n = 0; n < N; n++) {
      if (targets[n] === -100) continue;
      if (!(targets[n] >= 0 && targets[n] < V)) throw new Error(`crossEntropy: target ${targets[n]} at ${n} outside [0, ${V}) and not -100`);
      count++;
    }
    const probs = new Float64Array(N * V);
    let loss = 0;
    for (let n = 0; n < N; n++) {
      if (targets[n] === -100) continue;
      const row = logits.data.subarray(n * V, n * V + V);
      const max = Math.max(...row);
      let sum = 0;
      for (let j = 0; j < V; j++) sum += probs[n * V + j] = Math.exp(row[j] - max);
      for (let j = 0; j < V; j++) probs[n * V + j] /= sum;
      loss += (max + Math.log(sum) - row[targets[n]]) / count;
    }
    return this.node(Float64Array.of(loss), [1], (g) => {
      for (let n = 0; n < N; n++) {
        if (targets[n] === -100) continue;
        for (let j = 0; j < V; j++) logits.grad[n * V + j] += (g[0] * (probs[n * V + j] - (j === targets[n] ? 1 : 0))) / count;
      }
    });
  }
}
