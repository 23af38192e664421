// `pupil distill topk` and `pupil train --distill-topk / --distill-teacher` end to end on tiny
// scratch models and a slice of the bundled data: the sidecar file, offline and online runs giving
// the same losses (up to the file's f16 log-probs), the settings kept in the run's config, a
// sidecar computed for other settings refused, and clear errors for bad flags.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeTopK } from '../../src/distill/topk-file.ts';
import { Live, pupil, pupilAsync, stepLines } from './train-helpers.ts';

const DATA = ['--data', 'bundled', '--limit', '60', '--seq', '128'];
const COMMON = [...DATA, '--max-positions', '128', '--batch', '4', '--exact-match', '0', '--sample-tokens', '2', '--log-every', '1', '--eval-every', '0', '--eval-batches', '1', '--quiet',
  '--schedule', 'constant', '--warmup-ratio', '0', '--heads', '2', '--kv-heads', '1', '--student', 'scratch'];
const STUDENT = [...COMMON, '--hidden', '32', '--layers', '1'];
const tmp = mkdtempSync(join(tmpdir(), 'pupil-cli-distill-'));
const teacher = join(tmp, 'teacher');
const file = join(tmp, 'data.topk.safetensors');

describe('pupil distill topk and pupil train --distill-*', () => {
  let topk: ReturnType<typeof pupil>, offline: ReturnType<typeof pupil>, online: ReturnType<typeof pupil>;
  beforeAll(() => {
    const t = pupil(['train', ...COMMON, '--hidden', '48', '--layers', '2', '--steps', '3', '--lr', '0.01', '--out', teacher]);
    expect(t.code, t.err).toBe(0);
    topk = pupil(['distill', 'topk', '--teacher', teacher, ...DATA, '--batch', '4', '--top-k', '8', '--out', file]);
    offline = pupil(['train', ...STUDENT, '--steps', '3', '--distill-topk', file, '--distill-alpha', '0.3', '--distill-temperature', '2', '--out', join(tmp, 'offline')]);
    online = pupil(['train', ...STUDENT, '--steps', '3', '--distill-teacher', teacher, '--distill-top-k', '8', '--distill-alpha', '0.3', '--distill-temperature', '2', '--out', join(tmp, 'online')]);
  }, 120_000);

  it('writes the sidecar: every example, K entries per trained token', () => {
    expect(topk.code, topk.err).toBe(0);
    const m = /wrote .*: (\d+) examples, (\d+) tokens, top-8, .* in [\d.]+ s/.exec(topk.out);
    expect(m, topk.out).not.toBeNull();
    const d = decodeTopK(new Uint8Array(readFileSync(file)), file);
    expect(d.keys.length).toBe(Number(m![1]));
    expect(d.offsets[d.keys.length]).toBe(Number(m![2]));
    expect(d.k).toBe(8);
    expect(d.vocabSize).toBe(260);
    expect(d.teacher).toBe(join(teacher, 'checkpoint'));
  });

  it('offline and online distillation give the same losses; the run keeps its settings', () => {
    expect(offline.code, offline.err).toBe(0);
    expect(online.code, online.err).toBe(0);
    expect(offline.out).toMatch(/train loss = 0\.3·CE \+ 0\.7·D, validation loss = CE/);
    const a = stepLines(offline.out), b = stepLines(online.out);
    expect(a.size).toBe(3);
    for (const [s, l] of a) expect(Math.abs(Number(l) - Number(b.get(s))), `step ${s}`).toBeLessThan(2e-3 * Number(l));
    const cfg = JSON.parse(readFileSync(join(tmp, 'online', 'config.json'), 'utf8'));
    expect(cfg.distill).toEqual({ teacher: join(teacher, 'checkpoint'), loss: 'forward', alpha: 0.3, beta: 0.5, temperature: 2, topK: 8 });
    expect(JSON.parse(readFileSync(join(tmp, 'offline', 'config.json'), 'utf8')).distill.topk).toBe(file);
  });

  it('an interrupted distillation run resumes with its teacher and the uninterrupted losses', async () => {
    const flags = [...STUDENT, '--steps', '6', '--save-every', '0', '--distill-teacher', teacher, '--distill-top-k', '8', '--distill-alpha', '0.3'];
    const [ref, a] = [pupilAsync(['train', ...flags, '--out', join(tmp, 'ref')]), new Live(['train', ...flags, '--out', join(tmp, 'cut')])];
    await a.waitFor(/^step 2\//m);
    a.child.kill('SIGINT');
    expect(await a.exited).toBe(130);
    const b = await pupilAsync(['train', '--resume', join(tmp, 'cut'), '--log-every', '1']);
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/train loss = 0\.3·CE \+ 0\.7·D/);
    const r = await ref;
    expect(r.code, r.err).toBe(0);
    const expected = stepLines(r.out), got = new Map([...stepLines(a.out), ...stepLines(b.out)]);
    expect([...got.keys()].sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const [step, loss] of expected) expect(got.get(step), `step ${step}`).toBe(loss);
  }, 120_000);

  it('refuses a sidecar computed with other settings, naming the first example', () => {
    const r = pupil(['train', ...STUDENT, '--mask', 'all-tokens', '--steps', '1', '--distill-topk', file, '--out', join(tmp, 'bad')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/data\.topk\.safetensors: \d+ of \d+ examples have no teacher top-k entry, the first from pupil-tasks\/train\.jsonl:\d+/);
  });

  it('bad flags get clear errors', () => {
    const pc = (...args: string[]) => pupil(['train', ...STUDENT, '--print-config', ...args]);
    expect(pc('--distill-topk', file, '--distill-alpha', '2').err).toMatch(/distill\.alpha: expected a number from 0 to 1, got 2/);
    expect(pc('--distill-topk', file, '--distill-loss', 'kl').err).toMatch(/distill\.loss: expected one of forward, reverse, jsd, got "kl"/);
    expect(pc('--distill-alpha', '0.5').err).toMatch(/distill: expected exactly one of teacher .* or topk .*, got neither/);
    expect(pc('--distill-topk', join(tmp, 'none.st')).err).toMatch(/--distill-topk .*none\.st: no such file/);
    expect(pc('--distill-teacher', join(tmp, 'nowhere')).err).toMatch(/--distill-teacher .*nowhere: no such folder/);
    expect(pc('--distill-topk', file, '--distill-top-k', '4').err).toMatch(/--distill-top-k applies to --distill-teacher only/);
    expect(pc('--distill-topk', file, '--distill-teacher', teacher).err).toMatch(/distill: expected exactly one of .*, got both/);
    const ok = pc('--distill-teacher', teacher, '--distill-loss', 'jsd', '--distill-beta', '0.2');
    expect(ok.code, ok.err).toBe(0);
    expect(JSON.parse(ok.out).distill).toMatchObject({ loss: 'jsd', beta: 0.2, alpha: 0.5, temperature: 1, topK: 16 });
    expect(pupil(['distill', 'topk', ...DATA, '--out', file]).err).toMatch(/--teacher DIR is missing/);
    expect(pupil(['distill', 'topk', '--teacher', teacher, ...DATA, '--top-k', '0', '--out', file]).err).toMatch(/--top-k must be an integer in \[1, 256\], got "0"/);
    expect(pupil(['distill', 'nope']).err).toMatch(/unknown subcommand "nope"/);
  });
});
