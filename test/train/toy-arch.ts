// A tiny Architecture for testing the training step apart from the real models, with its float64
// reference: hidden = embed[ids]·Wᵀ + b, then the (untied) LM head. Four parameters, one of them
// without weight decay (the bias), any of them freezable.
// Letters: B batch, T sequence, N = B·T rows, C hidden, V vocabulary.
import type { Runtime, Step } from '../../src/gpu/runtime.ts';
import { reshape } from '../../src/gpu/tensor.ts';
import type { Batch } from '../../src/data/batch.ts';
import type { Architecture, BatchInputs, ModelGraph } from '../../src/models/architecture.ts';
import type { ModelConfig } from '../../src/models/config.ts';
import { ParamLayout, ParamStore, type ParamSpec } from '../../src/models/params.ts';
import { embeddingBackward, embeddingForward } from '../../src/ops/embedding.ts';
import { matmul } from '../../src/ops/matmul.ts';
import { Activations } from '../../src/nn/plan.ts';
import { rand } from '../helpers/gpu.ts';

export const TOY_PARAMS = ['embed.weight', 'proj.weight', 'proj.bias', 'lm_head.weight'] as const;

export function toyConfig(V: number, C: number): ModelConfig {
  return {
    arch: 'toy', vocabSize: V, hiddenSize: C, numLayers: 0, numHeads: 1, numKvHeads: 1, headDim: C, intermediateSize: C,
    maxPositions: 1024, norm: 'rms', normEps: 1e-5, mlp: 'swiglu', positions: 'rope', ropeTheta: 10000, attentionBias: false,
    tieWordEmbeddings: false, hf: { model_type: 'toy' },
  };
}

export function toyArch(frozen: readonly string[] = []): Architecture {
  const shapes = (cfg: ModelConfig, B: number, T: number): Record<string, number[]> => {
    const N = B * T, C = cfg.hiddenSize;
    return { h0: [N, C], dh0: [N, C], hidden: [N, C], dhidden: [N, C], ones: [1, N] };
  };
  return {
    name: 'toy',
    modelTypes: ['toy'],
    parseConfig: () => {
      throw new Error('toy: no config.json');
    },
    parameters(cfg): ParamSpec[] {
      const V = cfg.vocabSize, C = cfg.hiddenSize;
      const specs: ParamSpec[] = [
        { name: 'embed.weight', shape: [V, C], decay: true, init: { kind: 'normal', std: 0.5 } },
        { name: 'proj.weight', shape: [C, C], decay: true, init: { kind: 'normal', std: 0.2 } },
        { name: 'proj.bias', shape: [C], decay: false, init: { kind: 'zeros' } },
        { name: 'lm_head.weight', shape: [V, C], decay: true, init: { kind: 'normal', std: 0.2 } },
      ];
      return specs.map((s) => ({ ...s, trainable: !frozen.includes(s.name) }));
    },
    activationShapes: (cfg, B, T) => shapes(cfg, B, T),
    lmHeadWeight: () => 'lm_head.weight',
    build(rt: Runtime, cfg: ModelConfig, store: ParamStore, inputs: BatchInputs): ModelGraph {
      const [B, T] = inputs.ids.shape;
      const C = cfg.hiddenSize, N = B * T;
      const acts = new Activations(rt, shapes(cfg, B, T));
      const a = (n: string) => acts.get(n);
      rt.write(a('ones'), new Float32Array(N).fill(1));
      const trains = (n: string) => store.layout.get(n).trainable;
      const W = store.param('proj.weight');
      const forward: Step[] = [
        ...embeddingForward(rt, { out: reshape(a('h0'), [B, T, C]), ids: inputs.ids, table: store.param('embed.weight') }),
        ...matmul(rt, { out: a('hidden'), a: a('h0'), b: W, bias: store.param('proj.bias'), transB: true }),
      ];
      const backward: Step[] = [];
      if (trains('proj.weight')) backward.push(...matmul(rt, { out: store.grad('proj.weight'), a: a('dhidden'), b: a('h0'), transA: true, accumulate: true }));
      if (trains('proj.bias')) backward.push(...matmul(rt, { out: reshape(store.grad('proj.bias'), [1, C]), a: a('ones'), b: a('dhidden'), accumulate: true }));
      if (trains('embed.weight')) {
        backward.push(...matmul(rt, { out: a('dh0'), a: a('dhidden'), b: W }));
        backward.push(...embeddingBackward(rt, { dtable: store.grad('embed.weight'), dout: reshape(a('dh0'), [B, T, C]), ids: inputs.ids, index: inputs.embeddingIndex }));
      }
      return {
        forward,
        backward,
        hidden: reshape(a('hidden'), [B, T, C]),
        dhidden: reshape(a('dhidden'), [B, T, C]),
        activations: acts.all(),
        destroy() {
          rt.release([...forward, ...backward]);
          acts.destroy();
        },
      };
    },
  };
}

/** Seeded weights for the toy (float32 values, so GPU and reference start from the same numbers). */
export function toyWeights(V: number, C: number, seed = 1): Map<string, Float32Array> {
  return new Map([
    ['embed.weight', rand(V * C, seed, -1, 1)],
    ['proj.weight', rand(C * C, seed + 1, -0.3, 0.3)],
    ['proj.bias', rand(C, seed + 2, -0.1, 0.1)],
    ['lm_head.weight', rand(V * C, seed + 3, -0.3, 0.3)],
  ]);
}

export function toyStore(rt: Runtime, V: number, C: number, frozen: readonly string[] = [], seed = 1) {
  const arch = toyArch(frozen);
  const cfg = toyConfig(V, C);
  const layout = new ParamLayout(arch.parameters(cfg));
  const store = new ParamStore(rt, layout);
  store.load(toyWeights(V, C, seed));
  return { arch, cfg, layout, store };
}

// ---- float64 reference -------------------------------------------------------------------------

export type Weights64 = Map<string, Float64Array>;

export function toF64(w: ReadonlyMap<string, Float32Array>): Weights64 {
  return new Map([...w].map(([k, v]) => [k, Float64Array.from(v)]));
}

/**
 * Loss (mean over the rows with a target in ALL batches), token accuracy, and the gradient of that
 * mean loss for every parameter.
 */
export function toyReference(w: Weights64, batches: readonly Batch[], V: number, C: number): { loss: number; accuracy: number; count: number; grads: Weights64 } {
  const E = w.get('embed.weight')!, W = w.get('proj.weight')!, bias = w.get('proj.bias')!, H = w.get('lm_head.weight')!;
  const grads: Weights64 = new Map([...w].map(([k, v]) => [k, new Float64Array(v.length)]));
  const dE = grads.get('embed.weight')!, dW = grads.get('proj.weight')!, db = grads.get('proj.bias')!, dH = grads.get('lm_head.weight')!;
  let count = 0;
  for (const b of batches) for (const t of b.targets) if (t !== -100) count++;
  let lossSum = 0, correct = 0;
  const e = new Float64Array(C), h = new Float64Array(C), logits = new Float64Array(V), dh = new Float64Array(C);
  for (const b of batches) {
    for (let n = 0; n < b.ids.length; n++) {
      const tgt = b.targets[n];
      if (tgt === -100) continue;
      const id = b.ids[n];
      for (let c = 0; c < C; c++) e[c] = E[id * C + c];
      for (let o = 0; o < C; o++) {
        let s = bias[o];
        for (let i = 0; i < C; i++) s += W[o * C + i] * e[i];
        h[o] = s;
      }
      let max = -Infinity, arg = 0;
      for (let v = 0; v < V; v++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += H[v * C + c] * h[c];
        logits[v] = s;
        if (s > max) { max = s; arg = v; }
      }
      let z = 0;
      for (let v = 0; v < V; v++) z += Math.exp(logits[v] - max);
      lossSum += Math.log(z) + max - logits[tgt];
      if (arg === tgt) correct++;
      dh.fill(0);
      for (let v = 0; v < V; v++) {
        const g = (Math.exp(logits[v] - max) / z - (v === tgt ? 1 : 0)) / count;
        for (let c = 0; c < C; c++) {
          dH[v * C + c] += g * h[c];
          dh[c] += g * H[v * C + c];
        }
      }
      for (let o = 0; o < C; o++) {
        db[o] += dh[o];
        for (let i = 0; i < C; i++) {
          dW[o * C + i] += dh[o] * e[i];
          dE[id * C + i] += dh[o] * W[o * C + i];
        }
      }
    }
  }
  return { loss: lossSum / count, accuracy: correct / count, count, grads };
}
