// A run's distillation, from its config: the online teacher loaded (weights on the CPU until the
// memory plan has passed) or the offline top-k file read and attached to the training examples,
// both checked against the student's vocabulary and tokenizer; and the distillation head.
import { checkSameVocabulary, frozenLayout, tokenizerFingerprint, type TeacherModel } from '../distill/teacher-topk.ts';
import { attachTopK, decodeTopK } from '../distill/topk-file.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { ParamStore } from '../models/params.ts';
import type { DistillConfig } from './config.ts';
import type { RunData } from './data.ts';
import { distillHead } from './distill-head.ts';
import type { HeadSpec } from './head.ts';
import type { PretrainedLoader, Student } from './student.ts';

export interface DistillEnv {
  loadPretrained?: PretrainedLoader;
  /** Reads a file (the offline top-k); Node gives fs.readFile. */
  readFile?: (path: string) => Promise<Uint8Array>;
}

export interface DistillSetup {
  head: HeadSpec;
  /** For the status line: what the training loss means. */
  summary: string;
  /** Creates the teacher's frozen GPU parameters (call once the memory plan has passed). */
  allocate(rt: Runtime): void;
  destroy(): void;
}

const KIND = { forward: 'forward KL', reverse: 'reverse KL', jsd: 'JSD' } as const;

export async function prepareDistill(d: DistillConfig, env: DistillEnv, student: Student, data: RunData): Promise<DistillSetup> {
  const s = { label: student.label, vocabSize: student.config.vocabSize, tokenizer: tokenizerFingerprint(student.tokenizer.files) };
  const common = { kind: d.loss, alpha: d.alpha, temperature: d.temperature, ...(d.loss === 'jsd' ? { beta: d.beta } : {}) };
  const what = `${KIND[d.loss]}${d.loss === 'jsd' ? ` beta ${d.beta}` : ''}, temperature ${d.temperature}`;
  const meaning = `train loss = ${d.alpha}·CE + ${+(1 - d.alpha).toFixed(6)}·D, validation loss = CE`;
  if (d.topk !== undefined) {
    if (!env.readFile) throw new Error('this environment cannot read a distillation top-k file (no readFile given)');
    let bytes: Uint8Array;
    try {
      bytes = await env.readFile(d.topk);
    } catch (e) {
      throw new Error(`distill.topk ${d.topk}: cannot read (${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message})`);
    }
    const file = decodeTopK(bytes, d.topk);
    checkSameVocabulary({ label: `${d.topk} (teacher ${file.teacher})`, vocabSize: file.vocabSize, tokenizer: file.tokenizer }, s);
    attachTopK(data.train, file, d.topk);
    return {
      head: distillHead({ ...common, topK: file.k }),
      summary: `distillation from ${d.topk} (top-${file.k} of ${file.teacher}): ${what}; ${meaning}`,
      allocate() {},
      destroy() {},
    };
  }
  if (!env.loadPretrained) throw new Error('this environment cannot load a distillation teacher (no loader given)');
  const p = await env.loadPretrained({ path: d.teacher! });
  if (!p.tokenizerFiles) throw new Error(`distillation teacher ${d.teacher}: it has no tokenizer.json, so its vocabulary cannot be checked against the student's`);
  checkSameVocabulary({ label: d.teacher!, vocabSize: p.config.vocabSize, tokenizer: tokenizerFingerprint(p.tokenizerFiles) }, s);
  const teacher: TeacherModel = { arch: p.arch, cfg: p.config, label: d.teacher! };
  let weights: Map<string, Float32Array> | undefined = p.weights;
  return {
    head: distillHead({ ...common, topK: Math.min(d.topK, p.config.vocabSize), teacher }),
    summary: `distillation from ${d.teacher} (top-${d.topK}, online): ${what}; ${meaning}`,
    allocate(rt) {
      const store = new ParamStore(rt, frozenLayout(teacher.arch, teacher.cfg));
      try {
        store.load(weights!);
      } catch (e) {
        store.destroy();
        throw e;
      }
      weights!.clear();
      weights = undefined;
      teacher.store = store;
    },
    destroy() {
      teacher.store?.destroy();
      teacher.store = undefined;
    },
  };
}
