// The teacher inside a dedicated Worker, where the studio's distillation could run it off the
// main thread: one message in (RunParams), one out ({ result } or { error }).
import { run, type RunParams } from './transformers-teacher-run.ts';

self.onmessage = async (e: MessageEvent<RunParams>) => {
  try {
    self.postMessage({ result: await run(e.data) });
  } catch (err) {
    self.postMessage({ error: String((err as Error)?.stack ?? err) });
  }
};
