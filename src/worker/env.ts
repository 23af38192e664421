// The trainer's environment inside the Worker: run storage in OPFS (IndexedDB fallback), students
// from the Hub (cached in OPFS / the Cache API by the loader), data from a URL or a Hub dataset.
// Folder paths do not exist in a browser: the page turns a dropped file into a blob: URL, which a
// same-origin Worker can fetch, and a picked model folder arrives as File objects (structured
// clones that stay readable in the Worker), keyed by the student.path the picker named them with.
import { loadDataset, type LoadOptions, type LoadResult } from '../data/load.ts';
import { DatasetError } from '../data/read/validate.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { loadPretrained } from '../models/load.ts';
import type { DataSource } from '../train/config.ts';
import type { BrowserRunStorage } from '../train/storage-browser.ts';
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

export function browserTrainerEnv(rt: Runtime, storage: BrowserRunStorage, opts: { endpoint?: string; localStudents?: LocalStudents } = {}): TrainerEnv {
  return {
    rt,
    storage,
    loadPretrained: (src, onProgress) => {
      if ('path' in src) {
        const files = opts.localStudents?.get(src.path);
        // Picked files live only as long as the page that picked them: a reload (or another tab) loses them.
        if (!files?.length) return Promise.reject(new Error(`student.path (${src.path}): the model's local files are not available (picked files last only as long as the page that picked them): pick the model folder again under "Local files", or use a Hub id (student.hub)`));
        return loadPretrained({ files }, { onProgress });
      }
      return loadPretrained({ repo: src.hub, revision: src.revision }, { onProgress, ...(opts.endpoint ? { endpoint: opts.endpoint } : {}) });
    },
    loadData: (source, o) => loadDataBrowser(source, o, opts.endpoint),
  };
}
