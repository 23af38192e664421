// The student as a CausalLM for generation (B = 1): the same layer functions as training
// (src/nn), forward only, with a KV cache per layer instead of saved activations.
//
// Two graphs are built once: a prefill graph of P rows that takes the prompt P tokens at a time
// (the last chunk padded; pad rows write cache positions past the prompt, which the next tokens
// overwrite before any query reads them), and a decode graph of one row that also holds the head
// (final norm and LM head on one row). Between steps the host only rewrites four small tensors:
// ids, positions, and `past` (positions already cached), which the cache kernels read on the GPU.
//
// Letters: C hidden, V vocabulary, L layers, Hq / Hkv heads, D head size, F MLP inner size,
// Tq rows of a graph (P or 1), Tmax cache capacity (maxLength).
import type { Runtime, Step } from '../gpu/runtime.ts';
import { reshape, type Tensor } from '../gpu/tensor.ts';
import { attentionScale, describePositions, usablePositions, type ModelConfig } from '../models/config.ts';
import { gpt2Names } from '../models/gpt2/index.ts';
import { llamaSpec } from '../models/llama/index.ts';
import type { ParamStore } from '../models/params.ts';
import type { LayerContext } from '../nn/context.ts';
import type { DecoderSpec } from '../nn/decoder.ts';
import { embedForward } from '../nn/embedding.ts';
import { linearForward } from '../nn/linear.ts';
import { mlpForward } from '../nn/mlp.ts';
import { normForward, type NormSaved } from '../nn/norm.ts';
import { Weights } from '../nn/types.ts';
import { attentionDecode, kvCacheWrite } from '../ops/attention_decode.ts';
import { copyColumns } from '../ops/columns.ts';
import { ropeForward, ropeInverseFrequencies, ropeTable } from '../ops/rope.ts';
import type { CausalLM } from './types.ts';

export interface GpuCausalLMOptions {
  /**
   * Cache capacity in tokens, prompt and generated together: at most the config's maxPositions,
   * by default the smaller of that and 2048 (the cache costs 8·L·Hkv·D bytes per token).
   */
  maxLength?: number;
  /** Rows of the prefill graph: prompts go through in chunks of this many tokens (default 64). */
  prefillChunk?: number;
}

/** The layer names and weight layout of a config's architecture. */
export function decoderSpecFor(cfg: ModelConfig): DecoderSpec {
  if (cfg.arch === 'gpt2') return { names: gpt2Names(cfg), layout: 'conv1d' };
  if (cfg.arch === 'llama' || cfg.arch === 'qwen2') return llamaSpec(cfg);
  throw new Error(`GpuCausalLM: no inference graph for architecture ${cfg.arch}`);
}

/** One planned pass over Tq new tokens. */
interface Pass {
  Tq: number;
  ids: Tensor; // (1, Tq) i32
  positions: Tensor; // (1, Tq) i32
  x: Tensor; // (Tq, C): the residual stream, the trunk's output at the end
  steps: Step[];
  tensors: Tensor[];
}

export class GpuCausalLM implements CausalLM {
  readonly vocabSize: number;
  readonly maxLength: number;
  readonly prefillChunk: number;
  private pos = 0;
  private readonly spec: DecoderSpec;
  private readonly w: Weights;
  private readonly past: Tensor; // (1) u32
  private readonly kCache: Tensor[] = []; // L × (1, Tmax, Hkv, D)
  private readonly vCache: Tensor[] = []; // L × (1, Tmax, Hkv, D)
  private readonly table?: Tensor; // (Tmax, D/2, 2) RoPE cos/sin
  private readonly hidden: Tensor; // (1, C) after the final norm
  private readonly finalSaved: NormSaved; // (1)
  private readonly logits: Tensor; // (1, V)
  private readonly prefillPass: Pass;
  private readonly decodePass: Pass;
  private readonly head: Step[];
  private readonly shared: Tensor[];

  constructor(
    readonly rt: Runtime,
    readonly cfg: ModelConfig,
    readonly store: ParamStore,
    opts: GpuCausalLMOptions = {},
  ) {
    const limit = usablePositions(cfg);
    const maxLength = opts.maxLength ?? Math.min(limit, 2048);
    if (!Number.isInteger(maxLength) || maxLength < 2 || maxLength > limit) {
      throw new Error(`GpuCausalLM: maxLength ${maxLength} must be an integer in 2 .. ${limit}: the model takes ${describePositions(cfg)}`);
    }
    const P = Math.min(opts.prefillChunk ?? 64, maxLength);
    if (!Number.isInteger(P) || P < 1) throw new Error(`GpuCausalLM: prefillChunk must be a positive integer, got ${opts.prefillChunk}`);
    this.vocabSize = cfg.vocabSize;
    this.maxLength = maxLength;
    this.prefillChunk = P;
    this.spec = decoderSpecFor(cfg);
    this.w = new Weights(store);
    const { hiddenSize: C, numKvHeads: Hkv, headDim: D, numLayers: L, vocabSize: V } = cfg;
    this.past = rt.tensor([1], 'u32', 'past', true);
    for (let l = 0; l < L; l++) {
      this.kCache.push(rt.tensor([1, maxLength, Hkv, D], 'f32', `kCache.${l}`));
      this.vCache.push(rt.tensor([1, maxLength, Hkv, D], 'f32', `vCache.${l}`));
    }
    if (cfg.positions === 'rope') {
      this.table = rt.tensor([maxLength, D / 2, 2], 'f32', 'ropeTable');
      const inv = this.spec.ropeInvFreq?.(cfg) ?? ropeInverseFrequencies(D, cfg.ropeTheta);
      rt.write(this.table, ropeTable(maxLength, D, cfg.ropeTheta, inv));
    }
    this.hidden = rt.tensor([1, C], 'f32', 'hidden');
    this.finalSaved = { rstd: rt.tensor([1], 'f32', 'final.rstd'), mean: cfg.norm === 'layer' ? rt.tensor([1], 'f32', 'final.mean') : undefined };
    this.logits = rt.tensor([1, V], 'f32', 'logits');
    this.shared = [this.past, ...this.kCache, ...this.vCache, ...(this.table ? [this.table] : []), this.hidden, this.finalSaved.rstd, ...(this.finalSaved.mean ? [this.finalSaved.mean] : []), this.logits];
    this.prefillPass = this.buildPass(P);
    this.decodePass = this.buildPass(1);
    const fn = this.spec.names.finalNorm;
    this.head = [
      ...normForward(rt, cfg.norm, { out: this.hidden, saved: this.finalSaved, inp: this.decodePass.x, weight: this.w.p(fn.weight), bias: this.w.p(fn.bias), eps: cfg.normEps }),
      ...linearForward(rt, { out: this.logits, inp: this.hidden, weight: this.w.p(this.spec.names.lmHead), layout: 'hf' }),
    ];
  }

  get length(): number {
    return this.pos;
  }

  reset(): void {
    // Stale cache rows are never read: every query sees only positions below `past` plus its own.
    this.pos = 0;
  }

  async prefill(ids: Int32Array): Promise<Float32Array> {
    const n = ids.length;
    if (n === 0) throw new Error('GpuCausalLM.prefill: no tokens');
    this.checkRoom(n);
    this.checkIds(ids);
    const { rt } = this;
    const p = this.prefillPass;
    let last = 0;
    for (let s = 0; s < n; s += p.Tq) {
      const m = Math.min(p.Tq, n - s);
      const chunk = new Int32Array(p.Tq).fill(ids[n - 1]);
      chunk.set(ids.subarray(s, s + m));
      // Pad rows repeat the last real position so they stay inside the position tables.
      const positions = Int32Array.from({ length: p.Tq }, (_, i) => this.pos + Math.min(i, m - 1));
      rt.write(p.ids, chunk);
      rt.write(p.positions, positions);
      rt.write(this.past, [this.pos]);
      rt.run(p.steps, 'prefill');
      this.pos += m;
      last = m - 1;
    }
    const C = this.cfg.hiddenSize;
    const row: Tensor = { ...p.x, byteOffset: p.x.byteOffset + last * C * 4, shape: [1, C], label: `prefill x[${last}]` };
    rt.run([rt.copy(this.decodePass.x, row), ...this.head], 'prefill head');
    return (await rt.read(this.logits)) as Float32Array;
  }

  async decode(id: number): Promise<Float32Array> {
    this.checkRoom(1);
    this.checkIds([id]);
    const { rt } = this;
    const d = this.decodePass;
    rt.write(d.ids, [id]);
    rt.write(d.positions, [this.pos]);
    rt.write(this.past, [this.pos]);
    rt.run([...d.steps, ...this.head], 'decode');
    this.pos += 1;
    return (await rt.read(this.logits)) as Float32Array;
  }

  destroy(): void {
    const steps = [...this.prefillPass.steps, ...this.decodePass.steps, ...this.head];
    this.rt.release(steps);
    this.rt.free(...this.shared, ...this.prefillPass.tensors, ...this.decodePass.tensors);
  }

  private checkRoom(n: number): void {
    if (this.pos + n > this.maxLength) throw new Error(`GpuCausalLM: ${this.pos} cached + ${n} new tokens exceed maxLength ${this.maxLength}`);
  }

  private checkIds(ids: ArrayLike<number>): void {
    for (let i = 0; i < ids.length; i++) {
      if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= this.vocabSize) throw new Error(`GpuCausalLM: token ${ids[i]} is outside the vocabulary (0 .. ${this.vocabSize - 1})`);
    }
  }

  /** The trunk over Tq new tokens: embeddings, L blocks writing their k/v into the caches. */
  private buildPass(Tq: number): Pass {
    const { rt, cfg, w } = this;
    const { names, layout } = this.spec;
    const { hiddenSize: C, numHeads: Hq, numKvHeads: Hkv, headDim: D, intermediateSize: F, numLayers: L } = cfg;
    const tensors: Tensor[] = [];
    const t = (shape: number[], label: string, dtype: 'f32' | 'i32' = 'f32') => {
      const x = rt.tensor(shape, dtype, `${label}[${Tq}]`);
      tensors.push(x);
      return x;
    };
    const ids = t([1, Tq], 'ids', 'i32');
    const positions = t([1, Tq], 'positions', 'i32');
    const x = t([Tq, C], 'x');
    const ln = t([Tq, C], 'ln');
    const saved: NormSaved = { rstd: t([Tq], 'rstd'), mean: cfg.norm === 'layer' ? t([Tq], 'mean') : undefined };
    const q = t([Tq, Hq * D], 'q');
    const k = t([Tq, Hkv * D], 'k');
    const v = t([Tq, Hkv * D], 'v');
    const att = t([Tq, Hq * D], 'att');
    const fused = names.layers.some((n) => 'fused' in n.qkv) ? t([Tq, (Hq + 2 * Hkv) * D], 'qkv') : undefined;
    const mlp = { pre: t([Tq, F], 'pre'), up: cfg.mlp === 'swiglu' ? t([Tq, F], 'up') : undefined, h: t([Tq, F], 'h') };
    // mlpForward reads only rt, w and layout from its context; the rest belongs to training.
    const mlpCtx = { rt, cfg, w, layout } as LayerContext;
    const heads = (a: Tensor, H: number) => reshape(a, [1, Tq, H, D]);
    const [q4, k4, v4, att4] = [heads(q, Hq), heads(k, Hkv), heads(v, Hkv), heads(att, Hq)];

    const steps: Step[] = [...embedForward(rt, { out: reshape(x, [1, Tq, C]), ids, wte: w.p(names.embed), positions, wpe: w.p(names.positions) })];
    for (let l = 0; l < L; l++) {
      const n = names.layers[l];
      steps.push(...normForward(rt, cfg.norm, { out: ln, saved, inp: x, weight: w.p(n.norm1.weight), bias: w.p(n.norm1.bias), eps: cfg.normEps }));
      if ('fused' in n.qkv) {
        steps.push(...linearForward(rt, { out: fused!, inp: ln, weight: w.p(n.qkv.fused.weight), bias: w.p(n.qkv.fused.bias), layout }));
        let col = 0;
        for (const part of [q, k, v]) {
          steps.push(...copyColumns(rt, { out: part, inp: fused!, outCol: 0, inpCol: col, cols: part.shape[1] }));
          col += part.shape[1];
        }
      } else {
        for (const [out, ln2] of [[q, n.qkv.q], [k, n.qkv.k], [v, n.qkv.v]] as const) {
          steps.push(...linearForward(rt, { out, inp: ln, weight: w.p(ln2.weight), bias: w.p(ln2.bias), layout }));
        }
      }
      if (this.table) {
        steps.push(...ropeForward(rt, { out: q4, inp: q4, positions, table: this.table }));
        steps.push(...ropeForward(rt, { out: k4, inp: k4, positions, table: this.table }));
      }
      steps.push(
        ...kvCacheWrite(rt, { cache: this.kCache[l], kv: k4, pastLength: this.past }),
        ...kvCacheWrite(rt, { cache: this.vCache[l], kv: v4, pastLength: this.past }),
        ...attentionDecode(rt, { out: att4, q: q4, kCache: this.kCache[l], vCache: this.vCache[l], pastLength: this.past, scale: attentionScale(cfg, l) }),
        ...linearForward(rt, { out: x, inp: att, weight: w.p(n.o.weight), bias: w.p(n.o.bias), layout, accumulate: true }),
        ...normForward(rt, cfg.norm, { out: ln, saved, inp: x, weight: w.p(n.norm2.weight), bias: w.p(n.norm2.bias), eps: cfg.normEps }),
        ...mlpForward(mlpCtx, n.mlp, { out: x, s: mlp, inp: ln }),
      );
    }
    return { Tq, ids, positions, x, steps, tensors };
  }
}
