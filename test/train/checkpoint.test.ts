import { mkdtemp, readdir, rename, rm, writeFile, mkdir, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  CONFIG_FILE,
  decodeCheckpoint,
  encodeCheckpoint,
  MODEL_FILE,
  OPTIMIZER_FILE,
  STATE_FILE,
  type Checkpoint,
  type TrainerState,
} from '../../src/train/checkpoint.ts';
import { loadCheckpointDir, saveCheckpointDir } from '../../src/train/checkpoint-node.ts';
import { parseSafetensors, writeSafetensors } from '../../src/models/safetensors.ts';
import { learningRate } from '../../src/optim/schedule.ts';
import { mixSeed, mulberry32, shuffled } from '../../src/data/batch.ts';

const rand = mulberry32(11);
const vec = (n: number) => Float32Array.from({ length: n }, () => rand() * 2 - 1);

function sample(): Checkpoint {
  const shapes = new Map<string, number[]>([
    ['model.embed_tokens.weight', [6, 4]],
    ['model.layers.0.input_layernorm.weight', [4]],
    ['model.norm.weight', [4]],
  ]);
  const params = new Map([...shapes].map(([n, s]) => [n, vec(s.reduce((a, b) => a * b))]));
  // model.norm.weight is frozen: no optimizer state.
  const trainable = ['model.embed_tokens.weight', 'model.layers.0.input_layernorm.weight'];
  const state: TrainerState = {
    step: 7,
    epoch: 1,
    positionInEpoch: 3,
    schedule: { lr: 3e-4, warmupSteps: 2, totalSteps: 20, kind: 'cosine', minLrRatio: 0.1 },
    rng: { seed: 0xdeadbeef, state: 12345 },
    optimizer: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1 },
    trainConfig: { batchSize: 2, seqLen: 16, packing: true },
    metrics: [{ step: 1, loss: 3.5 }, { step: 2, loss: NaN }],
  };
  return {
    params,
    shapes,
    m: new Map(trainable.map((n) => [n, vec(params.get(n)!.length)])),
    v: new Map(trainable.map((n) => [n, vec(params.get(n)!.length).map(Math.abs)])),
    state,
    config: { model_type: 'llama', hidden_size: 4 },
  };
}

function expectError(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CheckpointError);
  expect((err as Error).message).toMatch(pattern);
}

const expected = (c: Checkpoint) => [...c.shapes!].map(([name, shape]) => ({ name, shape, trainable: c.m.has(name) }));

describe('checkpoint encode / decode', () => {
  it('round-trips bit for bit, with HF-loadable model.safetensors', () => {
    const c = sample();
    const files = encodeCheckpoint(c);
    expect([...files.keys()].sort()).toEqual([CONFIG_FILE, MODEL_FILE, OPTIMIZER_FILE, STATE_FILE].sort());
    const d = decodeCheckpoint(files, expected(c));
    expect(d.params).toEqual(c.params);
    expect(d.m).toEqual(c.m);
    expect(d.v).toEqual(c.v);
    expect(d.shapes).toEqual(c.shapes);
    expect(d.config).toEqual(c.config);
    expect(d.state).toEqual({ ...c.state, metrics: [{ step: 1, loss: 3.5 }, { step: 2, loss: null }] });
    const model = parseSafetensors(files.get(MODEL_FILE)!);
    expect(model.metadata).toEqual({ format: 'pt' });
    expect(model.tensors.get('model.embed_tokens.weight')!.shape).toEqual([6, 4]);
    expect([...model.tensors.values()].every((t) => t.dtype === 'F32')).toBe(true);
    expect([...parseSafetensors(files.get(OPTIMIZER_FILE)!).tensors.keys()].sort()).toEqual(
      ['m.model.embed_tokens.weight', 'm.model.layers.0.input_layernorm.weight', 'v.model.embed_tokens.weight', 'v.model.layers.0.input_layernorm.weight'],
    );
  });

  it('stores parameters without a shape 1-D and rejects a wrong shape', () => {
    const c = sample();
    const d = decodeCheckpoint(encodeCheckpoint({ ...c, shapes: undefined, config: undefined }));
    expect(d.shapes.get('model.norm.weight')).toEqual([4]);
    expect(d.shapes.get('model.embed_tokens.weight')).toEqual([24]);
    expect(d.config).toBeUndefined();
    expectError(() => encodeCheckpoint({ ...c, shapes: new Map([['model.norm.weight', [5]]]) }), /model.norm.weight has 4 values but shape \[5\]/);
  });

  it('rejects inconsistent optimizer state when encoding', () => {
    const c = sample();
    const m = new Map(c.m);
    m.delete('model.embed_tokens.weight');
    expectError(() => encodeCheckpoint({ ...c, m }), /has v.model.embed_tokens.weight but no m.model.embed_tokens.weight/);
    expectError(() => encodeCheckpoint({ ...c, m: new Map([...c.m, ['nope', new Float32Array(1)]]) }), /m.nope is for an unknown parameter/);
    expectError(() => encodeCheckpoint({ ...c, v: new Map([...c.v].map(([k, x]) => [k, x.subarray(1)])) }), /v.model.embed_tokens.weight has 23 values but the parameter has 24/);
    expectError(() => encodeCheckpoint({ ...c, state: { ...c.state, step: -1 } }), /step must be an integer >= 0/);
    expectError(() => encodeCheckpoint({ ...c, state: { ...c.state, rng: { seed: 2 ** 32 } } }), /rng.seed must be a u32/);
    expectError(() => encodeCheckpoint({ ...c, state: { ...c.state, schedule: { ...c.state.schedule, kind: 'exp' as 'cosine' } } }), /trainer state: learning-rate schedule: kind/);
  });

  it('gives clear errors for missing, corrupted and mismatched pieces', () => {
    const c = sample();
    const files = encodeCheckpoint(c);
    const without = (name: string) => new Map([...files].filter(([k]) => k !== name));
    const edit = (name: string, bytes: Uint8Array) => new Map([...files, [name, bytes]]);
    const json = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
    const state = JSON.parse(new TextDecoder().decode(files.get(STATE_FILE)));

    expectError(() => decodeCheckpoint(without(MODEL_FILE)), /model.safetensors is missing \(files present: .*optimizer.safetensors/);
    expectError(() => decodeCheckpoint(without(OPTIMIZER_FILE)), /optimizer.safetensors is missing/);
    expectError(() => decodeCheckpoint(without(STATE_FILE)), /trainer_state.json is missing/);
    expectError(() => decodeCheckpoint(edit(STATE_FILE, json({ ...state, version: 99 }))), /format version 99; this Pupil reads version 1/);
    expectError(() => decodeCheckpoint(edit(STATE_FILE, json({ step: 1 }))), /not a Pupil trainer state/);
    expectError(() => decodeCheckpoint(edit(STATE_FILE, files.get(STATE_FILE)!.subarray(0, 20))), /trainer_state.json is not valid JSON/);
    expectError(() => decodeCheckpoint(edit(STATE_FILE, json({ ...state, positionInEpoch: 'x' }))), /positionInEpoch must be an integer/);
    expectError(() => decodeCheckpoint(edit(MODEL_FILE, files.get(MODEL_FILE)!.subarray(0, 100))), /model.safetensors: .*truncated/);
    expectError(() => decodeCheckpoint(edit(CONFIG_FILE, json('{').subarray(0, 2))), /config.json is not valid JSON/);

    const opt = (tensors: [string, number[], Float32Array][], meta = { format: 'pupil-adamw', version: '1' }) =>
      edit(OPTIMIZER_FILE, writeSafetensors(new Map(tensors.map(([n, s, d]) => [n, { dtype: 'F32', shape: s, data: d }])), meta));
    const m0 = c.m.get('model.embed_tokens.weight')!;
    expectError(() => decodeCheckpoint(opt([['m.model.embed_tokens.weight', [6, 4], m0]])), /has m.model.embed_tokens.weight but no v.model.embed_tokens.weight/);
    expectError(() => decodeCheckpoint(opt([['x.model.embed_tokens.weight', [6, 4], m0]])), /neither m.<param> nor v.<param>/);
    expectError(() => decodeCheckpoint(opt([['m.lm_head.weight', [6, 4], m0]])), /m.lm_head.weight is for a parameter that model.safetensors does not have/);
    expectError(() => decodeCheckpoint(opt([['m.model.embed_tokens.weight', [4, 6], m0]])), /has shape \[4,6\] but the parameter has \[6,4\]/);
    expectError(() => decodeCheckpoint(opt([], { format: 'pupil-adamw', version: '2' })), /optimizer.safetensors has format "pupil-adamw" version "2"; expected pupil-adamw version 1/);
    const f16 = edit(MODEL_FILE, writeSafetensors(new Map([...c.params].map(([n, d]) => [n, { dtype: 'F16' as const, shape: c.shapes!.get(n)!, data: d }]))));
    expectError(() => decodeCheckpoint(f16), /is F16; checkpoints hold F32/);

    // Against the model's own parameter list.
    const exp = expected(c);
    expectError(() => decodeCheckpoint(files, [...exp, { name: 'lm_head.weight', shape: [6, 4] }]), /model.safetensors lacks parameter lm_head.weight/);
    expectError(() => decodeCheckpoint(files, exp.slice(1)), /has parameter model.embed_tokens.weight, which the model does not/);
    expectError(() => decodeCheckpoint(files, exp.map((e) => ({ ...e, shape: e.shape.length === 2 ? [4, 6] : e.shape }))), /shape \[6,4\] in the checkpoint but the model expects \[4,6\]/);
    expectError(() => decodeCheckpoint(files, exp.map((e) => ({ ...e, trainable: true }))), /no moments for trainable parameter model.norm.weight/);
  });
});

describe('checkpoint folders (Node)', () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await mkdtemp(join(tmpdir(), 'pupil-ckpt-'));
    dirs.push(d);
    return d;
  };
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('saves, replaces and loads', async () => {
    const root = await tmp();
    const dir = join(root, 'run', 'checkpoint');
    const a = sample();
    await saveCheckpointDir(dir, encodeCheckpoint(a));
    expect(decodeCheckpoint(await loadCheckpointDir(dir)).params).toEqual(a.params);
    const b = sample();
    b.state.step = 8;
    await saveCheckpointDir(dir, encodeCheckpoint(b));
    const d = decodeCheckpoint(await loadCheckpointDir(dir));
    expect(d.state.step).toBe(8);
    expect(d.params).toEqual(b.params);
    expect(await readdir(join(root, 'run'))).toEqual(['checkpoint']); // no temp or backup left
    await expect(saveCheckpointDir(dir, new Map([['../evil', new Uint8Array(1)]]))).rejects.toThrow(/not a plain file name/);
    await expect(loadCheckpointDir(join(root, 'nothing'))).rejects.toThrow(/no checkpoint at/);
  });

  it('a save that fails half-way leaves the previous checkpoint loadable', async () => {
    const root = await tmp();
    const dir = join(root, 'ckpt');
    const good = sample();
    await saveCheckpointDir(dir, encodeCheckpoint(good));
    const next = sample();
    next.state.step = 99;
    let calls = 0;
    // Writes half of the second file, then "the disk fills up".
    const failing = async (path: string, bytes: Uint8Array) => {
      const fh = await open(path, 'wx');
      try {
        if (++calls === 2) {
          await fh.writeFile(bytes.subarray(0, bytes.length >> 1));
          throw new Error('ENOSPC: simulated');
        }
        await fh.writeFile(bytes);
      } finally {
        await fh.close();
      }
    };
    await expect(saveCheckpointDir(dir, encodeCheckpoint(next), { writeFile: failing })).rejects.toThrow(/simulated/);
    const d = decodeCheckpoint(await loadCheckpointDir(dir));
    expect(d.state.step).toBe(7);
    expect(d.params).toEqual(good.params);
    expect(await readdir(root)).toEqual(['ckpt']);
  });

  it('recovers from a crash between the two renames, and the next save cleans up', async () => {
    const root = await tmp();
    const dir = join(root, 'ckpt');
    await saveCheckpointDir(dir, encodeCheckpoint(sample()));
    // State after a crash: the old folder moved aside, a partial new one never renamed in.
    await rename(dir, `${dir}.previous`);
    await mkdir(join(root, 'ckpt.partial-1-x'));
    await writeFile(join(root, 'ckpt.partial-1-x', MODEL_FILE), new Uint8Array(10));
    expect(decodeCheckpoint(await loadCheckpointDir(dir)).state.step).toBe(7);
    const next = sample();
    next.state.step = 8;
    await saveCheckpointDir(dir, encodeCheckpoint(next));
    expect(decodeCheckpoint(await loadCheckpointDir(dir)).state.step).toBe(8);
    expect((await readdir(root)).sort()).toEqual(['ckpt', 'ckpt.partial-1-x']); // a stranger's partial folder is not ours to delete
  });
});

describe('resume', () => {
  // A CPU stand-in for the trainer: linear regression on shuffled mini-batches with AdamW and the
  // cosine schedule, driven only by what a checkpoint stores. Resuming from a checkpoint written
  // to disk mid-epoch must give exactly the losses of the uninterrupted run.
  const N = 10, D = 4, B = 3, BATCHES = Math.floor(N / B), TOTAL = 11;
  const data = Array.from({ length: N }, (_, i) => ({ x: vec(D), y: Math.sin(i) }));
  const hyper = { beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01 };

  function train(c: { params: Map<string, Float32Array>; m: Map<string, Float32Array>; v: Map<string, Float32Array>; state: TrainerState }, until: number): number[] {
    const losses: number[] = [];
    const { state } = c;
    const [w, b] = [c.params.get('w')!, c.params.get('b')!];
    while (state.step < until) {
      const order = shuffled([...data.keys()], mixSeed(state.rng.seed, state.epoch));
      const batch = order.slice(state.positionInEpoch * B, (state.positionInEpoch + 1) * B);
      const gw = new Float32Array(D);
      const gb = new Float32Array(1);
      let loss = 0;
      for (const i of batch) {
        const { x, y } = data[i];
        const err = x.reduce((s, xi, k) => s + xi * w[k], b[0]) - y;
        loss += (err * err) / B;
        for (let k = 0; k < D; k++) gw[k] += (2 * err * x[k]) / B;
        gb[0] += (2 * err) / B;
      }
      losses.push(loss);
      const lr = learningRate(state.step, state.schedule);
      const t = state.step + 1;
      for (const [name, p, g] of [['w', w, gw], ['b', b, gb]] as const) {
        const m = c.m.get(name)!, v = c.v.get(name)!;
        for (let k = 0; k < p.length; k++) {
          m[k] = hyper.beta1 * m[k] + (1 - hyper.beta1) * g[k];
          v[k] = hyper.beta2 * v[k] + (1 - hyper.beta2) * g[k] * g[k];
          const mh = m[k] / (1 - hyper.beta1 ** t), vh = v[k] / (1 - hyper.beta2 ** t);
          p[k] -= lr * (mh / (Math.sqrt(vh) + hyper.eps) + (name === 'w' ? hyper.weightDecay * p[k] : 0));
        }
      }
      state.step++;
      if (++state.positionInEpoch === BATCHES) [state.epoch, state.positionInEpoch] = [state.epoch + 1, 0];
    }
    return losses;
  }

  const fresh = () => ({
    params: new Map([['w', new Float32Array(D)], ['b', new Float32Array(1)]]),
    m: new Map([['w', new Float32Array(D)], ['b', new Float32Array(1)]]),
    v: new Map([['w', new Float32Array(D)], ['b', new Float32Array(1)]]),
    state: { step: 0, epoch: 0, positionInEpoch: 0, schedule: { lr: 0.05, warmupSteps: 2, totalSteps: TOTAL, kind: 'cosine' as const }, rng: { seed: 42 }, optimizer: { ...hyper } },
  });

  it('continues with the same losses as an uninterrupted run', async () => {
    const whole = train(fresh(), TOTAL);
    const first = fresh();
    const head = train(first, 4); // mid-epoch: epoch 1, position 1
    expect(first.state).toMatchObject({ epoch: 1, positionInEpoch: 1 });
    const dir = join(await mkdtemp(join(tmpdir(), 'pupil-resume-')), 'ckpt');
    await saveCheckpointDir(dir, encodeCheckpoint({ ...first, shapes: new Map([['w', [1, D]], ['b', [1]]]) }));
    const restored = decodeCheckpoint(await loadCheckpointDir(dir));
    await rm(join(dir, '..'), { recursive: true, force: true });
    const tail = train(restored, TOTAL);
    expect([...head, ...tail]).toEqual(whole);
    // The stored state really matters: resuming with a different seed diverges.
    const other = decodeCheckpoint(encodeCheckpoint({ ...first, state: { ...first.state, step: 4, rng: { seed: 43 } } }));
    expect(train(other, TOTAL)).not.toEqual(tail);
  });
});
