// RunConfig: defaults, validation errors that name the field, JSON round trip.
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCRATCH, exportRunConfig, PRETRAINED_LR, resolveRunConfig, RunConfigError, SCRATCH_LR } from '../../src/train/config.ts';

function fieldOf(input: unknown): string {
  try {
    resolveRunConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(RunConfigError);
    return `${(e as RunConfigError).field} | ${(e as Error).message}`;
  }
  throw new Error('expected a RunConfigError');
}

describe('resolveRunConfig', () => {
  it('fills sensible defaults, depending on the kind of student', () => {
    const c = resolveRunConfig({});
    expect(c.student).toEqual({ scratch: DEFAULT_SCRATCH });
    expect(c.train.lr).toBe(SCRATCH_LR);
    expect(c.train).toMatchObject({ schedule: 'cosine', batchSize: 8, seqLen: 128, accumulation: 1, maxGradNorm: 1, seed: 42, epochs: 3 });
    expect(c.train.warmupRatio).toBeGreaterThanOrEqual(0.03);
    expect(c.train.warmupRatio).toBeLessThanOrEqual(0.05);
    expect(c.data).toMatchObject({ source: 'bundled', packing: true, maxLength: 128, template: 'auto', mask: 'assistant' });
    expect(c.eval.exactMatch).toBe(64);
    expect(c.eval.samples.length).toBeGreaterThan(0);
    const hub = resolveRunConfig({ student: { hub: 'HuggingFaceTB/SmolLM2-135M' } });
    expect(hub.train.lr).toBe(PRETRAINED_LR);
    expect(hub.train.weightDecay).toBe(0);
    // Exact match only scores the bundled tasks.
    expect(resolveRunConfig({ data: { source: { path: 'x.jsonl' } } }).eval.exactMatch).toBe(0);
  });

  it('round-trips through JSON unchanged (a resolved config re-runs as is)', () => {
    const c = resolveRunConfig({ name: 'r', train: { maxSteps: 300, lr: 5e-4 }, student: { scratch: { hidden: 64, layers: 2 } }, eval: { every: 25 } });
    const again = resolveRunConfig(JSON.parse(exportRunConfig(c)));
    expect(again).toEqual(c);
  });

  it('names the bad field', () => {
    expect(fieldOf({ train: { lr: -1 } })).toBe('train.lr | train.lr: expected a positive number, got -1');
    expect(fieldOf({ train: { learningRate: 1 } })).toMatch(/^train\.learningRate \| .*unknown field/);
    expect(fieldOf({ train: { schedule: 'step' } })).toMatch(/^train\.schedule \| .*cosine, linear, constant/);
    expect(fieldOf({ train: { batchSize: 2.5 } })).toMatch(/^train\.batchSize/);
    expect(fieldOf({ train: { seqLen: 512 } })).toMatch(/^train\.seqLen \| .*maxPositions \(256\)/);
    expect(fieldOf({ train: { betas: [0.9] } })).toMatch(/^train\.betas/);
    expect(fieldOf({ data: { validation: 1.5 } })).toMatch(/^data\.validation/);
    expect(fieldOf({ data: { maxLength: 400 } })).toMatch(/^data\.maxLength \| .*exceeds train\.seqLen/);
    expect(fieldOf({ data: { source: { file: 'x' } } })).toMatch(/^data\.source/);
    expect(fieldOf({ student: { hub: 'a/b', path: 'c' } })).toMatch(/^student \| .*exactly one of/);
    expect(fieldOf({ student: { scratch: { hidden: 30, heads: 4 } } })).toMatch(/^student\.scratch\.heads \| .*multiple of heads/);
    expect(fieldOf({ eval: { samples: [''] } })).toMatch(/^eval\.samples/);
    expect(fieldOf({ eval: { exactMatch: 10 }, data: { source: { url: 'http://x/y.jsonl' } } })).toMatch(/^eval\.exactMatch \| .*bundled/);
    expect(fieldOf({ save: { every: -1 } })).toMatch(/^save\.every/);
    expect(fieldOf({ colour: 'red' })).toMatch(/^colour \| .*unknown field/);
    expect(fieldOf(42)).toMatch(/^config/);
  });
});
