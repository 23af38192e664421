// What the transformers.js teacher page does, in the page or in its Worker: load the teacher
// from the local Hub stand-in, greedy-generate, and return the reply with timings.
import type { TeacherMessage, TeacherReply } from '../../../src/distill/teacher.ts';
import type { TransformersDevice } from '../../../src/distill/teachers/transformers.ts';

export interface RunParams {
  hub: string;
  model: string;
  device: TransformersDevice;
  messages: TeacherMessage[];
  maxTokens: number;
  /** false: bypass the Cache API (TransformersTeacherOptions.browserCache). */
  browserCache: boolean;
}

export interface RunResult {
  name: string;
  reply: TeacherReply;
  streamed: string;
  promptIds: number[];
  /** The last progress report of each file. */
  progress: Record<string, { loaded: number; total: number }>;
  loadMs: number;
  generateMs: number;
  /** WebGPU queue submissions during the run: proof of which device really computed. */
  gpuSubmits: number;
}

let gpuSubmits = 0;
if (typeof GPUQueue !== 'undefined') {
  const submit = GPUQueue.prototype.submit;
  GPUQueue.prototype.submit = function (this: GPUQueue, buffers: Iterable<GPUCommandBuffer>) {
    gpuSubmits++;
    return submit.call(this, buffers);
  };
}

export async function run(p: RunParams): Promise<RunResult> {
  const t0 = performance.now();
  // Dynamic, as the studio does: the library and its runtime load only now.
  const { TransformersTeacher } = await import('../../../src/distill/teachers/transformers.ts');
  const progress: RunResult['progress'] = {};
  const teacher = await TransformersTeacher.load({ model: p.model, device: p.device, remoteHost: p.hub, browserCache: p.browserCache, onProgress: ({ file, loaded, total }) => (progress[file] = { loaded, total }) });
  const t1 = performance.now();
  let streamed = '';
  try {
    const reply = await teacher.generate(p.messages, { maxTokens: p.maxTokens, topLogprobs: 3, onText: (t) => (streamed += t) });
    return { name: teacher.name, reply, streamed, promptIds: teacher.promptIds(p.messages), progress, loadMs: t1 - t0, generateMs: performance.now() - t1, gpuSubmits };
  } finally {
    await teacher.dispose();
  }
}
