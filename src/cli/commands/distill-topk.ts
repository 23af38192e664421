// `pupil distill topk`: a dataset's teacher top-k, computed once on the GPU and stored beside the
// data (src/distill/topk-file.ts), for `pupil train --distill-topk FILE`. The dataset is tokenized
// exactly as `pupil train` does (loadRunData, same config fields and flags), so the keys of the
// file match the training examples only when data, template, mask and maximum length agree.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { rowsToBatch } from '../../data/batch.ts';
import { IGNORE } from '../../data/mask.ts';
import { buildTeacherTopK, frozenLayout, tokenizerFingerprint } from '../../distill/teacher-topk.ts';
import { encodeTopK, exampleKey } from '../../distill/topk-file.ts';
import { nodeGPU } from '../../gpu/node.ts';
import { Runtime } from '../../gpu/runtime.ts';
import type { Tensor } from '../../gpu/tensor.ts';
import { loadPretrainedNode } from '../../models/load-node.ts';
import { ParamStore } from '../../models/params.ts';
import { writeFileAtomic } from '../../models/write-atomic-node.ts';
import { MAX_TOP_K } from '../../ops/distill.ts';
import { loadRunData } from '../../train/data.ts';
import { allocInputs, freeInputs, InputWriter, inputSpecOf } from '../../train/inputs.ts';
import { loadDataNode } from '../../train/node.ts';
import { loadStudent } from '../../train/student.ts';
import { formatBytes } from '../../util/format.ts';
import { applyFlags, numberFlag, readConfigFile, resolveConfig, UsageError, type ConfigFlag } from '../train-config.ts';
import { resolveModelDir } from './chat.ts';

const USAGE = `usage: pupil distill topk --teacher DIR --data D --out FILE.topk.safetensors [options]

The teacher (a checkpoint, run or model folder) must have the student's tokenizer. Tokenization
follows pupil train: give the same --config or data flags as the training run, or its examples
will not find their entries.

options:
  --top-k N            entries kept per trained token (default 16, at most ${MAX_TOP_K})
  --batch N            examples per teacher forward (default: the config's batch, 8)
  --seq N              longest example in tokens (pupil train's --seq; default 128)
  --config FILE        a run config: its data section (and seq) is used
  --format F --template T --mask M --max-length N --too-long P --limit N   as for pupil train`;

const DATA_FLAGS = ['format', 'template', 'mask', 'max-length', 'too-long', 'limit', 'seq', 'batch'] as const;

export async function main(argv: string[]): Promise<number> {
  const usage = (msg: string) => {
    console.error(`pupil distill topk: ${msg}\n\n${USAGE}`);
    return 2;
  };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        teacher: { type: 'string' }, data: { type: 'string' }, out: { type: 'string', short: 'o' }, 'top-k': { type: 'string' }, config: { type: 'string' },
        ...Object.fromEntries(DATA_FLAGS.map((f) => [f, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    return usage((e as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  let K: number, teacherDir: string, out: string, config;
  try {
    const teacher = values.teacher as string | undefined;
    if (!teacher) throw new UsageError('--teacher DIR is missing');
    if (!existsSync(teacher) || !statSync(teacher).isDirectory()) throw new UsageError(`--teacher ${teacher}: no such folder`);
    if (!values.data) throw new UsageError('--data is missing');
    if (!values.out) throw new UsageError('--out FILE is missing');
    out = resolve(values.out as string);
    K = numberFlag('top-k', values['top-k'] as string | undefined, { integer: true, min: 1, max: MAX_TOP_K }) ?? 16;
    teacherDir = resolveModelDir(resolve(teacher));
    const raw = values.config ? readConfigFile(values.config as string) : {};
    const flags = Object.fromEntries(DATA_FLAGS.filter((f) => values[f] !== undefined).map((f) => [f, values[f] as string])) as Partial<Record<ConfigFlag, string>>;
    config = resolveConfig(applyFlags(raw, { ...flags, data: values.data as string }));
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    throw e;
  }

  const t0 = performance.now();
  let rt: Runtime | undefined;
  const cleanup: (() => void)[] = [];
  try {
    const teacher = await loadStudent({ path: teacherDir }, { loadPretrained: (s) => loadPretrainedNode('path' in s ? s.path : s.hub) });
    const { arch, config: cfg, tokenizer } = teacher;
    if (K > cfg.vocabSize) throw new Error(`--top-k ${K} exceeds the teacher's vocabulary (${cfg.vocabSize})`);
    if (config.train.seqLen > cfg.maxPositions) throw new Error(`--seq ${config.train.seqLen} exceeds the teacher's ${cfg.maxPositions} positions`);
    const data = await loadRunData(config, tokenizer, loadDataNode);
    // Train and validation examples both: the split is the training run's business.
    const examples = [...data.train, ...data.validation];
    const E = examples.length;
    const M = examples.reduce((n, ex) => n + ex.trainedTokens, 0);
    console.log(`teacher ${teacherDir} (${cfg.arch}, V ${cfg.vocabSize}); ${E} examples, ${M} trained tokens${data.rejections.length ? ` (${data.rejections.length} rejected)` : ''}`);

    rt = await Runtime.create({ gpu: await nodeGPU() });
    const store = new ParamStore(rt, frozenLayout(arch, cfg));
    cleanup.push(() => store.destroy());
    store.load(teacher.weights);
    teacher.weights.clear();
    const B = config.train.batchSize, T = config.train.seqLen, N = B * T;
    const spec = inputSpecOf(cfg);
    const inputs = allocInputs(rt, B, T, spec);
    const writer = new InputWriter(rt, inputs, spec);
    const ids = rt.tensor([N, K], 'i32', 'teacher.ids', true); // (N, K)
    const logprobs = rt.tensor([N, K], 'f32', 'teacher.logprobs', true); // (N, K)
    const tk = buildTeacherTopK(rt, { arch, cfg, store, label: teacherDir }, { inputs, ids, logprobs });
    const gpu = rt;
    cleanup.push(() => (tk.destroy(), gpu.free(ids, logprobs), freeInputs(gpu, inputs)));

    const outIds = cfg.vocabSize > 65536 ? new Int32Array(M * K) : new Uint16Array(M * K);
    const outLps = new Float32Array(M * K);
    const offsets = new Int32Array(E + 1);
    const bar = process.stderr.isTTY ? new cliProgress.SingleBar({ format: 'teacher top-k {bar} {value}/{total} examples | eta {eta_formatted}', stream: process.stderr }, cliProgress.Presets.shades_classic) : undefined;
    bar?.start(E, 0);
    cleanup.push(() => bar?.stop());
    let m = 0;
    for (let i = 0; i < E; i += B) {
      const group = examples.slice(i, i + B);
      const longest = Math.max(...group.map((ex) => ex.ids.length));
      const batch = rowsToBatch(group.map((ex) => [ex]), group.length, longest, data.padId);
      writer.write(batch);
      rt.run(tk.steps, 'teacher top-k');
      const [gi, gl] = (await Promise.all([rt.read(ids), rt.read(logprobs as Tensor)])) as [Int32Array, Float32Array];
      group.forEach((ex, b) => {
        offsets[i + b] = m;
        for (let p = 0; p < ex.ids.length; p++) {
          if (ex.targets[p] === IGNORE) continue;
          const row = (b * T + p) * K;
          outIds.set(gi.subarray(row, row + K), m * K);
          outLps.set(gl.subarray(row, row + K), m * K);
          m++;
        }
      });
      bar?.update(Math.min(E, i + B));
    }
    offsets[E] = m;
    bar?.stop();
    const bytes = encodeTopK({ teacher: teacherDir, k: K, vocabSize: cfg.vocabSize, tokenizer: tokenizerFingerprint(tokenizer.files), keys: examples.map(exampleKey), offsets, ids: outIds, logprobs: outLps });
    await writeFileAtomic(out, bytes);
    const s = (performance.now() - t0) / 1000;
    console.log(`wrote ${out}: ${E} examples, ${M} tokens, top-${K}, ${formatBytes(bytes.length)} in ${s.toFixed(1)} s`);
    return 0;
  } catch (e) {
    console.error(`pupil distill topk: ${(e as Error).message}`);
    return 1;
  } finally {
    for (const f of cleanup.reverse()) f();
  }
}
