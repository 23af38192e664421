// The trainer's environment inside the Worker: run storage in OPFS (IndexedDB fallback), students
// from the Hub (cached in OPFS / the Cache API by the loader), data from a URL or a Hub dataset.
// Folder paths do not exist in a browser: the page turns a dropped file into a blob: URL, which a
// same-origin Worker can fetch, and a picked model folder arrives as File objects (structured
// clones that stay readable in the Worker), keyed by the student.path the picker named them with.
// A path `run:<runId>` names one of this browser's saved runs (its last checkpoint): how the studio
// picks a distillation teacher, since a saved run has no folder either.
import { loadDataset, type LoadOptions, type LoadResult } from '../data/load.ts';
import { DatasetError } from '../data/read/validate.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { loadPretrained } from '../models/load.ts';
import { OPTIMIZER_FILE } from '../train/checkpoint.ts';
import { runOfPath, type DataSource } from '../train/config.ts';
import type { RunMeta, RunStorage } from '../train/storage.ts';
import type { TrainerEnv } from '../train/trainer.ts';

const HUB = 'https://huggingface.co';

export async function loadDataBrowser(source: Exclude<DataSource, 'bundled'>, opts: LoadOptions, endpoint = HUB): Promise<LoadResult> {
  if ('path' in source) {
    throw new DatasetError(`data.source.path (${source.path}) cannot be read in a browser: pick the file in the page (it is passed as a blob: URL), or give a URL`);
  }
  const url = 'url' in source ? source.url : `${endpoint}/datasets/${source.hub}/resolve/${encodeURIComponent(source.revision ?? 'main')}/${source.file}`;
  const name = 'url' in source ? (url.startsWith('blob:') ? 'dataset' : new URL(url).pathname.split('/').pop() || 'dataset') : source.file.split('/').pop()!;
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    const gone = url.startsWith('blob:') ? ' (a blob: URL lives only as long as the page that made it: pick the file again)' : '';
    throw new DatasetError(`${url}: cannot download (${(e as Error).message})${gone}`);
  }
  if (!res.ok || !res.body) throw new DatasetError(`${url}: HTTP ${res.status} ${res.statusText}`);
  return loadDataset(res.body as ReadableStream<Uint8Array>, { name, ...opts });
}

/** Files picked in the page for a student, by the student.path of the run that uses them. */
export type LocalStudents = ReadonlyMap<string, readonly File[]>;

/**
 * A saved run's last checkpoint as the files of a Hugging Face folder (config, safetensors,
 * tokenizer), ready for loadPretrained({ files }). The optimizer state (twice the model's size) is
 * left out: a model loaded this way only runs forward. `label` starts each error message.
 */
export async function readRunModel(storage: RunStorage, runId: string, label: string): Promise<{ meta: RunMeta; files: File[] }> {
  let meta: RunMeta | undefined;
  try {
    meta = await storage.loadRun(runId);
  } catch (e) {
    throw new Error(`${label}: cannot read run ${JSON.stringify(runId)} (${(e as Error).message})`);
  }
  if (!meta) throw new Error(`${label}: no run ${runId} in this browser's storage (deleted, or saved in another browser or storage backend): pick another run`);
  const files = await storage.loadCheckpoint(runId);
  if (!files) throw new Error(`${label}: run ${runId} has no checkpoint yet: train it until it saves one (or stop it, which saves), then pick it again`);
  const picked = [...files].filter(([name]) => name !== OPTIMIZER_FILE).map(([name, bytes]) => new File([bytes as Uint8Array<ArrayBuffer>], name));
  return { meta, files: picked };
}

export interface BrowserEnvOptions {
  endpoint?: string;
  localStudents?: LocalStudents;
  /** The run this env trains: `run:<it>` is refused (a run cannot teach itself). */
  runId?: string;
}

export function browserTrainerEnv(rt: Runtime, storage: RunStorage, opts: BrowserEnvOptions = {}): TrainerEnv {
  return {
    rt,
    storage,
    loadPretrained: async (src, onProgress) => {
      if ('path' in src) {
        const runId = runOfPath(src.path);
        if (runId !== undefined) {
          const label = `distillation teacher ${src.path}`;
          if (runId === opts.runId) throw new Error(`${label} is the run being trained: a run cannot be its own teacher (pick another saved run)`);
          const { files } = await readRunModel(storage, runId, label);
          // Not cached: the bytes are already local, in the run storage.
          return loadPretrained({ files }, { onProgress, cache: null });
        }
        const files = opts.localStudents?.get(src.path);
        // Picked files live only as long as the page that picked them: a reload (or another tab) loses them.
        if (!files?.length) throw new Error(`student.path (${src.path}): the model's local files are not available (picked files last only as long as the page that picked them): pick the model folder again under "Local files", or use a Hub id (student.hub)`);
        return loadPretrained({ files }, { onProgress });
      }
      return loadPretrained({ repo: src.hub, revision: src.revision }, { onProgress, ...(opts.endpoint ? { endpoint: opts.endpoint } : {}) });
    },
    loadData: (source, o) => loadDataBrowser(source, o, opts.endpoint),
  };
}
