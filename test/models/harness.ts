// Runs one forward + backward of a tiny model on the GPU (architecture build + lmHeadLoss), the
// way the trainer wires them, and returns the loss and every parameter gradient, for comparison
// with the float64 reference (test/reference/model).
import type { Runtime } from '../../src/gpu/runtime.ts';
import type { BuildOptions } from '../../src/models/architecture.ts';
import type { HFConfig } from '../../src/models/config.ts';
import { ParamLayout, ParamStore, type ParamSpec } from '../../src/models/params.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { lmHeadLoss, lmHeadScratchShape } from '../../src/nn/lm_head.ts';
import { countTargets } from '../../src/ops/cross_entropy.ts';
import { embeddingBackwardIndex, embeddingIndexShape } from '../../src/ops/embedding.ts';
import { rand } from '../helpers/gpu.ts';

export interface TestBatch {
  ids: Int32Array;
  targets: Int32Array;
  positions: Int32Array;
  segmentIds: Int32Array;
  B: number;
  T: number;
}

/**
 * Packed rows: each row holds segments of the given lengths (then padding, segment 0); positions
 * restart per segment; targets are the next id inside a segment, -100 at each segment's end, on
 * padding and on the first `promptLen` tokens of every segment (a masked prompt).
 */
export function packedBatch(V: number, T: number, rows: number[][], seed: number, promptLen = 2): TestBatch {
  const B = rows.length;
  const n = B * T;
  const ids = Int32Array.from(rand(n, seed, 0, 1), (u) => Math.min(V - 1, Math.floor(u * V)));
  const targets = new Int32Array(n).fill(-100);
  const positions = new Int32Array(n);
  const segmentIds = new Int32Array(n);
  rows.forEach((lens, b) => {
    let t = 0;
    lens.forEach((len, s) => {
      for (let i = 0; i < len; i++, t++) {
        const at = b * T + t;
        positions[at] = i;
        segmentIds[at] = s + 1;
        if (i >= promptLen && i < len - 1) targets[at] = ids[at + 1];
      }
    });
    if (t > T) throw new Error(`row ${b}: segments ${lens} exceed T = ${T}`);
  });
  return { ids, targets, positions, segmentIds, B, T };
}

/**
 * Random weights that exercise everything: matrices ~U(±1/sqrt(fan-in))·1.5 so activations stay
 * O(1) and attention is neither uniform nor one-hot, embeddings ~U(±1), norm weights 1 ± 0.3,
 * biases ±0.2.
 */
export function randomWeights(specs: readonly ParamSpec[], seed: number): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  specs.forEach((s, i) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    let w: Float32Array;
    if (s.init.kind === 'ones') w = rand(n, seed + i, 0.7, 1.3);
    else if (s.init.kind === 'zeros') w = rand(n, seed + i, -0.2, 0.2);
    else if (/wte|wpe|embed_tokens/.test(s.name)) w = rand(n, seed + i, -1, 1);
    else {
      // HF Linear (out, in) fan-in is the last dim; Conv1D (in, out) the first.
      const fanIn = /transformer\.h/.test(s.name) ? s.shape[0] : s.shape[s.shape.length - 1];
      const a = 1.5 / Math.sqrt(fanIn);
      w = rand(n, seed + i, -a, a);
    }
    out.set(s.name, w);
  });
  return out;
}

export interface GpuResult {
  loss: number;
  losses: Float32Array;
  grads: Map<string, Float32Array>;
  specs: ParamSpec[];
}

/** One forward + backward on the GPU; `chunkRows` sets the LM head's chunk budget in rows. */
export async function gpuLossAndGrads(
  rt: Runtime,
  hf: HFConfig,
  weights: Map<string, Float32Array>,
  batch: TestBatch,
  opts: BuildOptions & { chunkRows?: number; specs?: ParamSpec[]; repeat?: number } = {},
): Promise<GpuResult> {
  const { arch, config: cfg } = parseConfig(hf);
  const specs = opts.specs ?? arch.parameters(cfg);
  const store = new ParamStore(rt, new ParamLayout(specs));
  store.load(weights);
  const { B, T } = batch;
  const N = B * T;
  const inputs = {
    ids: rt.upload(batch.ids, [B, T], 'i32', 'ids'),
    targets: rt.upload(batch.targets, [B, T], 'i32', 'targets'),
    positions: rt.upload(batch.positions, [B, T], 'i32', 'positions'),
    segmentIds: rt.upload(batch.segmentIds, [B, T], 'i32', 'segmentIds'),
    embeddingIndex: rt.upload(embeddingBackwardIndex(batch.ids, cfg.vocabSize), embeddingIndexShape(N), 'i32', 'embeddingIndex'),
    positionIndex: rt.upload(embeddingBackwardIndex(batch.positions, cfg.maxPositions), embeddingIndexShape(N), 'i32', 'positionIndex'),
  };
  const graph = arch.build(rt, cfg, store, inputs, opts);
  const budget = opts.chunkRows ? opts.chunkRows * cfg.vocabSize * 4 : undefined;
  const logits = rt.tensor(lmHeadScratchShape(N, cfg.hiddenSize, cfg.vocabSize, budget, rt.limits.minStorageBufferOffsetAlignment), 'f32', 'logits');
  const losses = rt.tensor([N], 'f32', 'losses');
  const count = countTargets(batch.targets);
  const gradScale = rt.upload([1 / count], [1], 'f32', 'gradScale');
  const headName = arch.lmHeadWeight(cfg);
  const head = lmHeadLoss(rt, {
    hidden: graph.hidden, dhidden: graph.dhidden, weight: store.param(headName), dweight: store.layout.get(headName).trainable ? store.grad(headName) : undefined,
    targets: inputs.targets, losses, gradScale, logits,
  });
  rt.run(rt.clear(store.grads));
  // `repeat` replays the same steps without clearing: parameter gradients must add up
  for (let i = 0; i < (opts.repeat ?? 1); i++) rt.run([...graph.forward, ...head, ...graph.backward]);
  const lossArr = Float32Array.from(await rt.read(losses));
  const flat = Float32Array.from(await rt.read(store.grads));
  const grads = new Map<string, Float32Array>();
  for (const e of store.layout.entries) if (e.trainable) grads.set(e.name, flat.slice(e.offset, e.offset + e.size));
  let sum = 0;
  for (const v of lossArr) sum += v;
  rt.release(head);
  graph.destroy();
  rt.free(logits, losses, gradScale, ...Object.values(inputs));
  store.destroy();
  return { loss: sum / count, losses: lossArr, grads, specs };
}

/** ||a − b|| / ||b||. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-300));
}

export const f64 = (a: Float32Array) => Float64Array.from(a);
