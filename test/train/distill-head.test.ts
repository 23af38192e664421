// The distillation head on the tiny llama: loss and every gradient against a float64 computation
// (reference model logits → float64 distillation loss and dlogits → the reference's backward),
// alpha = 1 against the plain LM head, the online teacher against the same top-k given offline,
// the teacher's top-k against float64 teacher logits, D falling when a student trains against a
// fixed teacher, and the memory plan pricing the teacher.
import { describe, expect, it } from 'vitest';
import type { Batch } from '../../src/data/batch.ts';
import { buildTeacherTopK, checkSameVocabulary, frozenLayout, type TeacherModel } from '../../src/distill/teacher-topk.ts';
import type { Runtime } from '../../src/gpu/runtime.ts';
import type { HFConfig } from '../../src/models/config.ts';
import { tinyConfig } from '../../src/models/init.ts';
import { ParamLayout, ParamStore } from '../../src/models/params.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { distillHead, type DistillHeadOptions } from '../../src/train/distill-head.ts';
import { lmHead, type HeadSpec } from '../../src/train/head.ts';
import { allocInputs, freeInputs, InputWriter, inputSpecOf, trainedRows } from '../../src/train/inputs.ts';
import { checkPlan, MemoryPlanError, planMemory } from '../../src/train/memory.ts';
import { TrainStep } from '../../src/train/step.ts';
import { distillBackwardRef, distillRef, teacherTopK } from '../reference/distill.ts';
import { llamaLogits, llamaShapes } from '../reference/model/llama.ts';
import { Tape } from '../reference/model/tape.ts';
import { expectNoGpuErrors, getRuntime, rand } from '../helpers/gpu.ts';
import { packedBatch, randomWeights, relativeError } from '../models/harness.ts';

const V = 96, T = 16, K = 8;
const studentHf = tinyConfig('llama', { vocab: V, hidden: 32, layers: 2, heads: 4, kvHeads: 2, intermediate: 48, maxPositions: 32 });
const teacherHf = tinyConfig('llama', { vocab: V, hidden: 48, layers: 3, heads: 4, kvHeads: 2, intermediate: 64, maxPositions: 32 });

function batchOf(rows: number[][], seed: number): Batch {
  const b = packedBatch(V, T, rows, seed);
  return { ...b, trainedTokens: b.targets.filter((t) => t !== -100).length, tokens: b.segmentIds.filter((s) => s !== 0).length, examples: rows.flat().length };
}

/** With random top-k (distinct ids, any log-probs) for the offline head. */
function withTeacher(b: Batch, seed: number): Batch {
  const t = teacherTopK(b.B * b.T, V, K, rand(4 * b.B * b.T * K, seed, 0, 1));
  return { ...b, teacherIds: t.ids, teacherLogprobs: Float32Array.from(t.lps), teacherK: K };
}

/** One forward + head + backward (no optimizer): mean loss and the gradients. */
async function lossAndGrads(rt: Runtime, hf: HFConfig, weights: Map<string, Float32Array>, batch: Batch, spec: HeadSpec) {
  const { arch, config: cfg } = parseConfig(hf);
  const store = new ParamStore(rt, new ParamLayout(arch.parameters(cfg)));
  store.load(weights);
  const inputs = allocInputs(rt, batch.B, batch.T, inputSpecOf(cfg));
  new InputWriter(rt, inputs, inputSpecOf(cfg)).write(batch);
  const graph = arch.build(rt, cfg, store, inputs);
  const count = trainedRows(batch);
  const gradScale = rt.upload([1 / count], [1], 'f32', 'gradScale');
  const head = spec.build(rt, { cfg, store, inputs, hidden: graph.hidden, dhidden: graph.dhidden, gradScale, lmHeadWeight: arch.lmHeadWeight(cfg) });
  head.write?.(batch, 'train');
  rt.run(rt.clear(store.grads));
  rt.run([...graph.forward, ...head.train, ...graph.backward]);
  const losses = Float32Array.from(await rt.read(head.losses));
  const correct = Float32Array.from(await rt.read(head.correct!));
  rt.run([...graph.forward, ...head.evaluate]);
  const evalLosses = Float32Array.from(await rt.read(head.losses));
  const flat = Float32Array.from(await rt.read(store.grads));
  const grads = new Map(store.layout.entries.map((e) => [e.name, flat.slice(e.offset, e.offset + e.size)]));
  head.destroy();
  graph.destroy();
  freeInputs(rt, inputs);
  rt.free(gradScale);
  store.destroy();
  const mean = (a: Float32Array) => a.reduce((s, x) => s + x, 0) / count;
  return { loss: mean(losses), evalLoss: mean(evalLosses), accuracy: mean(correct), grads };
}

/** Float64: the reference model's logits, the distillation loss and dlogits, and its backward. */
function reference(hf: HFConfig, w32: Map<string, Float32Array>, b: Batch, o: Omit<DistillHeadOptions, 'topK'>) {
  const tape = new Tape();
  const leaves = new Map([...llamaShapes(hf)].map(([n, s]) => [n, tape.leaf(Float64Array.from(w32.get(n)!), s)]));
  const logits = llamaLogits(tape, hf, (n) => leaves.get(n)!, b);
  const count = trainedRows(b);
  const lps = Float64Array.from(b.teacherLogprobs!);
  const opts = { V, K, kind: o.kind, beta: o.beta, alpha: o.alpha, temperature: o.temperature };
  const loss = distillRef(logits.data, b.targets, b.teacherIds!, lps, opts).reduce((s, x) => s + x, 0) / count;
  logits.grad.set(distillBackwardRef(logits.data, b.targets, b.teacherIds!, lps, opts, new Float64Array(b.targets.length).fill(1 / count)));
  // A detached scalar: backward then only propagates the dlogits set above.
  tape.backward(tape.leaf(new Float64Array(1), [1]));
  return { loss, grads: new Map([...leaves].map(([n, v]) => [n, v.grad])), logits: logits.data };
}

describe('distillation head', () => {
  const { arch, config: cfg } = parseConfig(studentHf);
  const weights = randomWeights(arch.parameters(cfg), 5);
  const batch = withTeacher(batchOf([[9, 7], [12]], 11), 3);

  for (const o of [
    { kind: 'forward', alpha: 0.5, temperature: 2 },
    { kind: 'jsd', beta: 0.3, alpha: 0.25, temperature: 1 },
  ] as const) {
    it(`offline ${o.kind}, alpha ${o.alpha}, temperature ${o.temperature}: loss and every gradient match float64`, async () => {
      const rt = await getRuntime();
      const got = await lossAndGrads(rt, studentHf, weights, batch, distillHead({ ...o, topK: K }));
      const ref = reference(studentHf, weights, batch, o);
      expect(Math.abs(got.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
      for (const [name, g] of ref.grads) expect(relativeError(got.grads.get(name)!, g), name).toBeLessThan(1e-4);
      await expectNoGpuErrors(rt);
    });
  }

  it('alpha = 1 is the plain LM head (loss, accuracy, every gradient); evaluation is plain CE', async () => {
    const rt = await getRuntime();
    const d = await lossAndGrads(rt, studentHf, weights, batch, distillHead({ kind: 'reverse', alpha: 1, temperature: 3, topK: K }));
    const l = await lossAndGrads(rt, studentHf, weights, batch, lmHead());
    expect(Math.abs(d.loss - l.loss) / l.loss).toBeLessThan(1e-6);
    expect(d.accuracy).toBe(l.accuracy);
    for (const [name, g] of l.grads) expect(relativeError(d.grads.get(name)!, g), name).toBeLessThan(1e-5);
    // Evaluation reports cross-entropy whatever alpha: validation losses compare across runs.
    const half = await lossAndGrads(rt, studentHf, weights, batch, distillHead({ kind: 'forward', alpha: 0.3, temperature: 1, topK: K }));
    expect(half.evalLoss).toBeCloseTo(l.loss, 5);
    expect(Math.abs(half.loss - l.loss)).toBeGreaterThan(1e-2);
    await expectNoGpuErrors(rt);
  });

  it('online teacher: its top-k matches float64 teacher logits, and the step equals offline with that top-k', async () => {
    const rt = await getRuntime();
    const t = parseConfig(teacherHf);
    const tw = randomWeights(t.arch.parameters(t.config), 9);
    const store = new ParamStore(rt, frozenLayout(t.arch, t.config));
    store.load(tw);
    const teacher: TeacherModel = { arch: t.arch, cfg: t.config, store, label: 'tiny teacher' };
    expect(store.layout.trainableSize).toBe(0);
    // The teacher's top-k alone, read back.
    const plain = batchOf([[9, 7], [12]], 11);
    const inputs = allocInputs(rt, plain.B, plain.T, inputSpecOf(cfg));
    new InputWriter(rt, inputs, inputSpecOf(cfg)).write(plain);
    const N = plain.B * plain.T;
    const ids = rt.tensor([N, K], 'i32', 'ids'), lps = rt.tensor([N, K], 'f32', 'lps');
    const tk = buildTeacherTopK(rt, teacher, { inputs, ids, logprobs: lps });
    rt.run(tk.steps);
    const gi = Int32Array.from(await rt.read(ids)), gl = Float32Array.from(await rt.read(lps));
    tk.destroy();
    freeInputs(rt, inputs);
    rt.free(ids, lps);
    // Float64 teacher logits: the same ids (up to near-ties) and log-softmax values.
    const tape = new Tape();
    const leaves = new Map([...llamaShapes(teacherHf)].map(([n, s]) => [n, tape.leaf(Float64Array.from(tw.get(n)!), s)]));
    const x = llamaLogits(tape, teacherHf, (n) => leaves.get(n)!, plain).data;
    let maxErr = 0;
    for (let r = 0; r < N; r++) {
      const row = x.subarray(r * V, (r + 1) * V);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      for (let k = 0; k < K; k++) maxErr = Math.max(maxErr, Math.abs(gl[r * K + k] - (row[gi[r * K + k]] - lse)));
      const sorted = [...row].sort((a, b) => b - a);
      expect(row[gi[r * K]], `row ${r} top-1`).toBeCloseTo(sorted[0], 4);
      expect(row[gi[r * K + K - 1]], `row ${r} top-${K}`).toBeCloseTo(sorted[K - 1], 4);
    }
    expect(maxErr).toBeLessThan(1e-4);

    const o = { kind: 'forward', alpha: 0.4, temperature: 1.5 } as const;
    const online = await lossAndGrads(rt, studentHf, weights, plain, distillHead({ ...o, topK: K, teacher }));
    const offline = await lossAndGrads(rt, studentHf, weights, { ...plain, teacherIds: gi, teacherLogprobs: gl, teacherK: K }, distillHead({ ...o, topK: K }));
    expect(online.loss).toBe(offline.loss);
    for (const [name, g] of offline.grads) expect(relativeError(online.grads.get(name)!, g), name).toBe(0);
    store.destroy();
    await expectNoGpuErrors(rt);
  });

  it('training against a fixed teacher lowers D (alpha 0); the memory plan prices the teacher', async () => {
    const rt = await getRuntime();
    const t = parseConfig(teacherHf);
    const teacher: TeacherModel = { arch: t.arch, cfg: t.config, label: 'tiny teacher' };
    const head = distillHead({ kind: 'forward', alpha: 0, temperature: 1, topK: K, teacher });
    const plan = planMemory({ arch, cfg, B: 2, T, head });
    const names = plan.buffers.map((b) => b.name);
    expect(names).toContain('teacher.params');
    expect(names).toContain('teacher.residual.3');
    expect(names.some((n) => n.startsWith('teacher.scratch.d'))).toBe(false); // forward only
    const without = planMemory({ arch, cfg, B: 2, T });
    expect(plan.total).toBeGreaterThan(without.total + 4 * frozenLayout(t.arch, t.config).frozenSize);
    expect(() => checkPlan(plan, { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30, budgetBytes: without.total + 1000 })).toThrow(MemoryPlanError);

    teacher.store = new ParamStore(rt, frozenLayout(t.arch, t.config));
    teacher.store.load(randomWeights(t.arch.parameters(t.config), 9));
    const store = new ParamStore(rt, new ParamLayout(arch.parameters(cfg)));
    store.load(weights);
    const step = new TrainStep(rt, arch, cfg, store, { B: 2, T, head, schedule: { lr: 1e-2, warmupSteps: 0, totalSteps: 100, kind: 'constant' } });
    const b = batchOf([[9, 7], [12]], 11);
    const losses: number[] = [];
    for (let s = 0; s < 8; s++) losses.push((await step.step([b]).metrics).loss);
    expect(losses[7]).toBeLessThan(0.7 * losses[0]);
    for (let s = 1; s < 8; s++) expect(losses[s]).toBeLessThan(losses[s - 1]);
    const ev = await step.evaluate([b]);
    expect(ev.loss).toBeGreaterThan(losses[7]); // CE, not D
    step.destroy();
    store.destroy();
    teacher.store.destroy();
    await expectNoGpuErrors(rt);
  });

  it('a teacher with another vocabulary or tokenizer is refused, naming both', () => {
    expect(() => checkSameVocabulary({ label: 'T', vocabSize: 100 }, { label: 'S', vocabSize: 96 })).toThrow(/teacher T has a vocabulary of 100 tokens but the student S has 96/);
    expect(() => checkSameVocabulary({ label: 'T', vocabSize: 96, tokenizer: 'aa' }, { label: 'S', vocabSize: 96, tokenizer: 'bb' })).toThrow(/different tokenizer \(fingerprint aa\) from the student S \(bb\)/);
    expect(() => distillHead({ kind: 'forward', alpha: 1.5, temperature: 1, topK: 4 })).toThrow(/alpha must be in \[0, 1\], got 1.5/);
    expect(() => distillHead({ kind: 'kl' as never, alpha: 0.5, temperature: 1, topK: 4 })).toThrow(/forward, reverse or jsd/);
    expect(() => distillHead({ kind: 'forward', alpha: 0.5, temperature: 1, topK: 300 })).toThrow(/top-k must be an integer from 1 to 256/);
  });
});
