// Loads TransformersTeacher from a local Hub and greedy-generates, in the page or (`where=worker`)
// in a Worker: `?hub=URL&model=owner/name&device=wasm|webgpu&where=page|worker&n=24&prompt=...&cache=0`.
// Publishes window.__result (RunResult) or window.__error.
import { run, type RunParams, type RunResult } from './transformers-teacher-run.ts';

const q = new URLSearchParams(location.search);
const params: RunParams = {
  hub: q.get('hub')!,
  model: q.get('model')!,
  device: q.get('device') as RunParams['device'],
  messages: [{ role: 'user', content: q.get('prompt')! }],
  maxTokens: Number(q.get('n')),
  browserCache: q.get('cache') !== '0',
};
const w = window as unknown as { __result?: RunResult; __error?: string };
const out = document.getElementById('out')!;

async function inWorker(): Promise<RunResult> {
  const worker = new Worker(new URL('./transformers-teacher.worker.ts', import.meta.url), { type: 'module' });
  try {
    return await new Promise<RunResult>((resolve, reject) => {
      worker.onmessage = (e: MessageEvent<{ result?: RunResult; error?: string }>) => (e.data.result ? resolve(e.data.result) : reject(new Error(e.data.error)));
      worker.onerror = (e) => reject(new Error(`worker: ${e.message}`));
      worker.postMessage(params);
    });
  } finally {
    worker.terminate();
  }
}

(q.get('where') === 'worker' ? inWorker() : run(params)).then(
  (r) => {
    w.__result = r;
    out.textContent = JSON.stringify(r, null, 1);
  },
  (e) => {
    w.__error = String((e as Error)?.stack ?? e);
    out.textContent = w.__error;
  },
);
