// `pupil export` on a training checkpoint of a scratch student: the Hugging Face folder it writes
// loads back with the same weights (f32 bit for bit, f16 to its rounding) and the byte tokenizer.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../../src/gpu/half.ts';
import { initialize, tinyConfig } from '../../src/models/init.ts';
import { loadPretrainedNode } from '../../src/models/load-node.ts';
import { parseConfig } from '../../src/models/registry.ts';
import { encodeCheckpoint } from '../../src/train/checkpoint.ts';
import { saveCheckpointDir } from '../../src/train/checkpoint-node.ts';

// HF_HUB_OFFLINE: a source that is not a folder is a Hub repo id, and tests never download.
const pupil = (...args: string[]) => spawnSync(process.execPath, ['bin/pupil.js', 'export', ...args], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } });

async function checkpoint() {
  const hf = tinyConfig('llama', { hidden: 32, layers: 1, heads: 2, kvHeads: 1, intermediate: 48, maxPositions: 32 });
  const { arch, config } = parseConfig(hf);
  const weights = initialize(arch.parameters(config), 5);
  const dir = join(mkdtempSync(join(tmpdir(), 'pupil-export-')), 'ckpt');
  const zeros = new Map([...weights].map(([k, v]) => [k, new Float32Array(v.length)]));
  const state = { step: 1, epoch: 0, positionInEpoch: 1, schedule: { lr: 1e-3, warmupSteps: 0, totalSteps: 2, kind: 'constant' as const }, rng: { seed: 1 } };
  await saveCheckpointDir(dir, encodeCheckpoint({ params: weights, shapes: new Map(arch.parameters(config).map((s) => [s.name, s.shape])), m: zeros, v: zeros, state, config: hf }));
  return { dir, weights };
}

describe('pupil export', () => {
  it('writes a checkpoint as a Hugging Face folder that loads back, f32 and f16', async () => {
    const { dir, weights } = await checkpoint();
    for (const dtype of ['f32', 'f16']) {
      const out = join(dir, '..', `hf-${dtype}`);
      const r = pupil(dir, '--out', out, '--dtype', dtype);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`exported llama \\(0\\.\\d+M parameters, ${dtype}\\)`));
      for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) expect(existsSync(join(out, f)), f).toBe(true);
      const back = await loadPretrainedNode(out);
      expect(back.tokenizerFiles?.['tokenizer.json']).toBeDefined();
      expect([...back.weights.keys()].sort()).toEqual([...weights.keys()].sort());
      for (const [name, w] of weights) {
        const expected = dtype === 'f32' ? w : w.map((x) => f16BitsToF32(f32ToF16Bits(x)));
        expect(back.weights.get(name), name).toEqual(expected);
      }
    }
  });

  it('says what is wrong with its arguments', () => {
    let r = pupil();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/SOURCE is missing/);
    r = pupil('x');
    expect(r.stderr).toMatch(/--out DIR is missing/);
    r = pupil('x', '--out', '/tmp/y', '--dtype', 'f8');
    expect(r.stderr).toMatch(/--dtype must be f32, f16 or bf16, got f8/);
    r = pupil(join(tmpdir(), 'pupil-no-such-dir'), '--out', '/tmp/y');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/pupil export: ".*pupil-no-such-dir" is not a Hub repository id/);
    r = pupil('some/repo', '--out', '/tmp/y');
    expect(r.stderr).toMatch(/some\/repo@main: config.json: not in the cache, and offline mode \(HF_HUB_OFFLINE\) forbids downloading it/);
  });
});
