// The decoder trunk shared by every architecture: embeddings, L pre-norm blocks, final norm.
// Architectures differ only in their parameter names, weight layout and config (src/models/*).
// Letters as in src/nn/types.ts; L blocks, P positions of the RoPE or wpe table.
//
// Activations, without recomputation: residual.{0..L} (each block's input, and the last block's
// output) and layers.{l}.* (what block l saves). With `recompute`, only residual.{0..L} persist;
// one shared block.* set is refilled by re-running each block's forward just before its backward.
import type { Runtime, Step } from '../gpu/runtime.ts';
import { reshape, type Tensor } from '../gpu/tensor.ts';
import type { BatchInputs, BuildOptions, ModelGraph } from '../models/architecture.ts';
import type { ModelConfig } from '../models/config.ts';
import type { ParamStore } from '../models/params.ts';
import { ropeInverseFrequencies, ropeTable } from '../ops/rope.ts';
import { attentionScratchShapes } from '../ops/attention.ts';
import { blockBackward, blockForward, blockSaved, blockSavedShapes, type BlockSaved } from './block.ts';
import type { LayerContext } from './context.ts';
import { embedBackward, embedForward } from './embedding.ts';
import type { LinearLayout } from './linear.ts';
import { normBackward, normForward, normSavedShapes, normScratchShape } from './norm.ts';
import { Activations, type ShapePlan } from './plan.ts';
import { dimsOf, discardSize, Weights, type ModelNames } from './types.ts';

export interface DecoderSpec {
  names: ModelNames;
  layout: LinearLayout;
  /** RoPE inverse frequencies (D/2) when the config scales them; default base^(-2i/D). */
  ropeInvFreq?: (cfg: ModelConfig) => Float64Array;
}

/** Every tensor build() allocates, by name, for (B, T). */
export function decoderPlan(cfg: ModelConfig, spec: DecoderSpec, B: number, T: number, opts: BuildOptions = {}, frozen = false): ShapePlan {
  const d = dimsOf(cfg, B, T);
  const L = cfg.numLayers;
  const plan: ShapePlan = {};
  for (let l = 0; l <= L; l++) plan[`residual.${l}`] = [d.N, d.C];
  const saved = blockSavedShapes(d, cfg.norm, cfg.mlp);
  const prefixes = opts.recompute || opts.forwardOnly ? ['block'] : Array.from({ length: L }, (_, l) => `layers.${l}`);
  for (const p of prefixes) for (const [k, s] of Object.entries(saved)) plan[`${p}.${k}`] = s;
  for (const [k, s] of Object.entries(normSavedShapes(cfg.norm, d.N))) plan[`final.${k}`] = s;
  plan.hidden = [d.N, d.C];
  if (spec.names.layers.some((n) => 'fused' in n.qkv)) plan['scratch.qkv'] = [d.N, (d.Hq + 2 * d.Hkv) * d.D];
  plan.ones = [1, d.N];
  if (cfg.positions === 'rope') plan.ropeTable = [cfg.maxPositions, d.D / 2, 2];
  if (opts.forwardOnly) return plan;
  plan.dhidden = [d.N, d.C];
  plan.dres = [d.N, d.C];
  plan['scratch.dln'] = [d.N, d.C];
  plan['scratch.datt'] = [d.N, d.Hq * d.D];
  plan['scratch.dq'] = [d.N, d.Hq * d.D];
  plan['scratch.dk'] = [d.N, d.Hkv * d.D];
  plan['scratch.dv'] = [d.N, d.Hkv * d.D];
  plan['scratch.delta'] = attentionScratchShapes(d.B, d.T, d.Hq).delta; // (B, Hq, T, 2): keeps dK/dV at 8 storage buffers
  plan['scratch.dh'] = [d.N, d.F];
  plan['scratch.dpre'] = [d.N, d.F];
  if (cfg.mlp === 'swiglu') plan['scratch.dup'] = [d.N, d.F];
  plan['scratch.norm'] = normScratchShape(cfg.norm, d.N, d.C);
  if (frozen) plan.discard = [discardSize(d.C)];
  return plan;
}

/** Allocates the plan and builds the forward and backward step lists. */
export function buildDecoder(rt: Runtime, cfg: ModelConfig, spec: DecoderSpec, store: ParamStore, inputs: BatchInputs, opts: BuildOptions = {}): ModelGraph {
  const [B, T] = inputs.ids.shape;
  const d = dimsOf(cfg, B, T);
  const L = cfg.numLayers;
  const { names } = spec;
  if (names.layers.length !== L) throw new Error(`buildDecoder: ${names.layers.length} layer name sets for ${L} layers`);
  // Only the embedding backward reads positionIndex.
  if (cfg.positions === 'learned' && !inputs.positionIndex && !opts.forwardOnly) {
    throw new Error('buildDecoder: learned positions need BatchInputs.positionIndex = embeddingBackwardIndex(positions, maxPositions)');
  }
  const frozen = store.layout.entries.some((e) => !e.trainable) && !opts.forwardOnly;
  const plan = decoderPlan(cfg, spec, B, T, opts, frozen);
  // q, k, v (and gate, up) of a block back to back: their projections can then run as one matmul.
  const groups = Object.keys(plan).filter((n) => n.endsWith('.q')).flatMap((n) => {
    const p = n.slice(0, -2);
    return [[`${p}.q`, `${p}.k`, `${p}.v`], [`${p}.pre`, `${p}.up`]];
  });
  const acts = new Activations(rt, plan, {}, groups);
  const a = (n: string) => acts.get(n);
  const w = new Weights(store, frozen ? a('discard') : undefined);

  rt.write(a('ones'), new Float32Array(d.N).fill(1));
  let table: Tensor | undefined;
  if (cfg.positions === 'rope') {
    table = a('ropeTable');
    const inv = spec.ropeInvFreq?.(cfg) ?? ropeInverseFrequencies(d.D, cfg.ropeTheta);
    rt.write(table, ropeTable(cfg.maxPositions, d.D, cfg.ropeTheta, inv));
  }
  const has = (n: string) => acts.has(n);
  // A forward-only graph plans no gradient scratch; only backward steps (never built then) read it.
  const g = (n: string) => (opts.forwardOnly ? (undefined as unknown as Tensor) : a(n));
  const ctx: LayerContext = {
    rt, cfg, d, w, layout: spec.layout, inputs, ropeTable: table, ones: a('ones'),
    scratch: {
      qkv: has('scratch.qkv') ? a('scratch.qkv') : undefined,
      dln: g('scratch.dln'), datt: g('scratch.datt'), dq: g('scratch.dq'), dk: g('scratch.dk'), dv: g('scratch.dv'),
      delta: g('scratch.delta'), dh: g('scratch.dh'), dpre: g('scratch.dpre'), dup: has('scratch.dup') ? a('scratch.dup') : undefined,
      norm: g('scratch.norm'),
    },
  };
  const savedOf = (prefix: string): BlockSaved => blockSaved((n) => a(`${prefix}.${n}`), (n) => has(`${prefix}.${n}`));
  const saved: BlockSaved[] = Array.from({ length: L }, (_, l) => savedOf(opts.recompute || opts.forwardOnly ? 'block' : `layers.${l}`));
  const res = (l: number) => a(`residual.${l}`);
  const finalSaved = { rstd: a('final.rstd'), mean: has('final.mean') ? a('final.mean') : undefined };
  const hidden = a('hidden');
  const dhidden = opts.forwardOnly ? hidden : a('dhidden');
  const fn = names.finalNorm;
  const bt = (t: Tensor) => reshape(t, [B, T, d.C]);

  const forward: Step[] = [
    ...embedForward(rt, { out: bt(res(0)), ids: inputs.ids, wte: w.p(names.embed), positions: inputs.positions, wpe: w.p(names.positions) }),
  ];
  for (let l = 0; l < L; l++) forward.push(...blockForward(ctx, l, names.layers[l], saved[l], res(l), res(l + 1)));
  forward.push(...normForward(rt, cfg.norm, { out: hidden, saved: finalSaved, inp: res(L), weight: w.p(fn.weight), bias: w.p(fn.bias), eps: cfg.normEps }));

  if (opts.forwardOnly) {
    return { forward, backward: [], hidden: bt(hidden), dhidden: bt(hidden), activations: acts.all(), destroy: () => (rt.release(forward), acts.destroy()) };
  }
  const dres = a('dres');
  const backward: Step[] = [
    ...normBackward(rt, cfg.norm, {
      dinp: dres, dweight: w.gOrDiscard(fn.weight, 0)!, dbias: w.gOrDiscard(fn.bias, 1), scratch: ctx.scratch.norm,
      dout: dhidden, inp: res(L), weight: w.p(fn.weight), saved: finalSaved,
    }),
  ];
  for (let l = L - 1; l >= 0; l--) {
    if (opts.recompute) backward.push(...blockForward(ctx, l, names.layers[l], saved[l], res(l)));
    backward.push(...blockBackward(ctx, l, names.layers[l], saved[l], res(l), dres));
  }
  backward.push(
    ...embedBackward(rt, {
      dwte: w.g(names.embed), dwpe: w.g(names.positions), dout: bt(dres), ids: inputs.ids, index: inputs.embeddingIndex,
      positions: inputs.positions, positionIndex: inputs.positionIndex,
    }),
  );

  const steps = [...forward, ...backward];
  return {
    forward,
    backward,
    hidden: bt(hidden),
    dhidden: bt(dhidden),
    activations: acts.all(),
    destroy() {
      rt.release(steps);
      acts.destroy();
    },
  };
}
