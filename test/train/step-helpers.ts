// Shared pieces of the training-step tests: random batches and a float64 training loop of the toy.
import type { Batch } from '../../src/data/batch.ts';
import { learningRate, type ScheduleConfig } from '../../src/optim/schedule.ts';
import { adamwRef } from '../reference/adamw.ts';
import { rand, randInt } from '../helpers/gpu.ts';
import { toyReference, type Weights64 } from './toy-arch.ts';

/** A (B, T) batch of random ids; each target is random or, with probability `masked`, -100. */
export function randomBatch(B: number, T: number, V: number, seed: number, masked = 0.3): Batch {
  const ids = randInt(B * T, seed, V);
  const targets = randInt(B * T, seed + 1, V);
  const coin = rand(B * T, seed + 2, 0, 1);
  let trainedTokens = 0;
  for (let i = 0; i < B * T; i++) {
    if (coin[i] < masked) targets[i] = -100;
    else trainedTokens++;
  }
  const positions = Int32Array.from({ length: B * T }, (_, i) => i % T);
  return { ids, targets, segmentIds: new Int32Array(B * T).fill(1), positions, B, T, trainedTokens, tokens: B * T, examples: B };
}

/** The rows of several batches of the same T as one batch. */
export function concatBatches(bs: readonly Batch[]): Batch {
  const cat = (k: 'ids' | 'targets' | 'segmentIds' | 'positions') => {
    const out = new Int32Array(bs.reduce((n, b) => n + b[k].length, 0));
    let at = 0;
    for (const b of bs) {
      out.set(b[k], at);
      at += b[k].length;
    }
    return out;
  };
  const sumOf = (k: 'trainedTokens' | 'tokens' | 'examples' | 'B') => bs.reduce((n, b) => n + b[k], 0);
  return { ids: cat('ids'), targets: cat('targets'), segmentIds: cat('segmentIds'), positions: cat('positions'), B: sumOf('B'), T: bs[0].T, trainedTokens: sumOf('trainedTokens'), tokens: sumOf('tokens'), examples: sumOf('examples') };
}

export interface RefOptions {
  V: number;
  C: number;
  schedule: ScheduleConfig;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  maxGradNorm?: number;
  frozen?: readonly string[];
}

/** torch-style training of the toy in float64: mean loss, global-norm clipping, AdamW. */
export function referenceTraining(w: Weights64, steps: readonly (readonly Batch[])[], o: RefOptions) {
  const [beta1, beta2] = o.betas ?? [0.9, 0.999];
  const m = new Map([...w].map(([k, v]) => [k, new Float64Array(v.length)]));
  const v = new Map([...w].map(([k, x]) => [k, new Float64Array(x.length)]));
  const trainable = [...w.keys()].filter((k) => !(o.frozen ?? []).includes(k));
  const losses: number[] = [], norms: number[] = [], accuracies: number[] = [];
  steps.forEach((batches, s) => {
    const r = toyReference(w, batches, o.V, o.C);
    let sq = 0;
    for (const k of trainable) for (const g of r.grads.get(k)!) sq += g * g;
    const norm = Math.sqrt(sq);
    const maxNorm = o.maxGradNorm ?? 1;
    const scale = maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
    const h = { lr: learningRate(s, o.schedule), beta1, beta2, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0, step: s + 1 };
    for (const k of trainable) adamwRef(w.get(k)!, r.grads.get(k)!, m.get(k)!, v.get(k)!, () => k !== 'proj.bias', h, scale);
    losses.push(r.loss);
    norms.push(norm);
    accuracies.push(r.accuracy);
  });
  return { losses, norms, accuracies, weights: w };
}
