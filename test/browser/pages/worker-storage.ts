// Run storage against the real browser APIs (OPFS, IndexedDB). `?phase=write` stores a run and a
// checkpoint in both backends and checks the save protocol; `?phase=read` (after a reload) finds
// them again. Publishes window.__results.
import { decodeCheckpoint, encodeCheckpoint } from '../../../src/train/checkpoint.ts';
import { BrowserRunStorage, openBackend, type BlobBackend } from '../../../src/train/storage-browser.ts';

const RUN = 'persist-run';
const phase = new URLSearchParams(location.search).get('phase') ?? 'write';

function checkpoint(step: number): Map<string, Uint8Array> {
  const w = Float32Array.from({ length: 300_000 }, (_, i) => Math.sin(i + step));
  const m = w.map((x) => x * 0.1);
  return encodeCheckpoint({
    params: new Map([['w', w]]),
    shapes: new Map([['w', [600, 500]]]),
    m: new Map([['w', m]]),
    v: new Map([['w', m.map((x) => x * x)]]),
    state: { step, epoch: 0, positionInEpoch: step, schedule: { kind: 'constant', lr: 1e-3, warmupSteps: 0, totalSteps: 10 }, rng: { seed: 7 } },
  });
}

const stepOf = (files: Map<string, Uint8Array> | undefined) => (files ? decodeCheckpoint(files).state.step : undefined);
const sameFiles = (a: Map<string, Uint8Array> | undefined, b: Map<string, Uint8Array>) =>
  !!a && a.size === b.size && [...b].every(([k, v]) => a.get(k)?.length === v.length && a.get(k)!.every((x, i) => x === v[i]));

/** Throws after `after` successful writes, as a tab closed or a disk filled mid-save would. */
function failing(inner: BlobBackend, after: number, error: () => Error): BlobBackend {
  let n = 0;
  return {
    kind: inner.kind,
    read: (p) => inner.read(p),
    append: (p, b) => inner.append(p, b),
    list: (d) => inner.list(d),
    remove: (p) => inner.remove(p),
    write: async (p, b) => {
      if (n++ >= after) throw error();
      return inner.write(p, b);
    },
  };
}

async function caught(f: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await f();
    return undefined;
  } catch (e) {
    return `${(e as Error).name}: ${(e as Error).message}`;
  }
}

async function write(kind: 'opfs' | 'indexeddb') {
  const s = new BrowserRunStorage(await openBackend(kind));
  await s.deleteRun(RUN);
  await s.deleteRun('other');
  const meta = { runId: RUN, name: 'persist', created: 1, updated: 1, status: 'paused', step: 3, totalSteps: 10 } as never;
  await s.saveRun(meta);
  await s.saveRun({ runId: 'other', name: 'other', created: 2, updated: 2, status: 'done', step: 0, totalSteps: 0 } as never);
  await s.appendMetrics(RUN, [{ kind: 'step', step: 1, loss: 3 }, { kind: 'step', step: 2, loss: 2.5 }]);
  await s.appendMetrics(RUN, [{ kind: 'step', step: 3, loss: 2 }, { kind: 'step', step: 4, loss: 1.5 }]);
  // Resuming from step 3 drops what came after it; appends then continue the file.
  await s.truncateMetrics(RUN, 2);
  await s.appendMetrics(RUN, [{ kind: 'step', step: 3, loss: 2 }]);
  const before = await s.loadCheckpoint(RUN);
  const c1 = checkpoint(1);
  await s.saveCheckpoint(RUN, c1);
  const roundTrip = sameFiles(await s.loadCheckpoint(RUN), c1);
  const c2 = checkpoint(2);
  await s.saveCheckpoint(RUN, c2);
  const replaced = sameFiles(await s.loadCheckpoint(RUN), c2);
  const folders = (await s.backend.list(`runs/${RUN}`)).filter((n) => n.startsWith('ckpt-')).length;

  // A save that dies after one file, and one that dies writing the pointer: step 2 stays current.
  const interrupted = new BrowserRunStorage(failing(s.backend, 1, () => new Error('tab closed')));
  const e1 = await caught(() => interrupted.saveCheckpoint(RUN, checkpoint(3)));
  const afterPartial = stepOf(await s.loadCheckpoint(RUN));
  const atPointer = new BrowserRunStorage(failing(s.backend, c2.size, () => new Error('tab closed')));
  const e2 = await caught(() => atPointer.saveCheckpoint(RUN, checkpoint(4)));
  const afterPointer = stepOf(await s.loadCheckpoint(RUN));
  const orphans = (await s.backend.list(`runs/${RUN}`)).filter((n) => n.startsWith('ckpt-')).length;

  // A full disk names the usage and what to do.
  const full = new BrowserRunStorage(failing(s.backend, 0, () => new DOMException('The quota has been exceeded.', 'QuotaExceededError')));
  const quota = await caught(() => full.saveCheckpoint(RUN, checkpoint(5)));
  const afterQuota = stepOf(await s.loadCheckpoint(RUN));

  return {
    kind: s.kind, before: before === undefined, roundTrip, replaced, folders, e1, afterPartial, e2, afterPointer, orphans, quota, afterQuota,
    metrics: (await s.readMetrics(RUN)).map((r) => r.loss),
  };
}

async function read(kind: 'opfs' | 'indexeddb') {
  const s = new BrowserRunStorage(await openBackend(kind));
  const runs = (await s.listRuns()).map((r) => r.runId);
  const step = stepOf(await s.loadCheckpoint(RUN));
  const metrics = (await s.readMetrics(RUN)).map((r) => r.loss);
  await s.deleteRun('other');
  const afterDelete = (await s.listRuns()).map((r) => r.runId);
  return { kind: s.kind, runs, step, metrics, afterDelete };
}

async function fallback() {
  // With OPFS gone (as in browsers without it) the default is IndexedDB.
  const desc = Object.getOwnPropertyDescriptor(StorageManager.prototype, 'getDirectory')!;
  Object.defineProperty(StorageManager.prototype, 'getDirectory', { value: undefined, configurable: true });
  try {
    return (await openBackend()).kind;
  } finally {
    Object.defineProperty(StorageManager.prototype, 'getDirectory', desc);
  }
}

try {
  const results = [];
  for (const kind of ['opfs', 'indexeddb'] as const) results.push(phase === 'write' ? await write(kind) : await read(kind));
  (window as any).__results = { results, defaultKind: (await openBackend()).kind, withoutOpfs: await fallback() };
} catch (e) {
  (window as any).__results = { error: String((e as Error).stack ?? e) };
}
document.getElementById('out')!.textContent = JSON.stringify((window as any).__results, null, 2);
