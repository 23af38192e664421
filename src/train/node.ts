// The trainer's environment in Node: runs in folders, pretrained students from a folder or the
// Hub (HF_ENDPOINT / HF_TOKEN / HF_HUB_OFFLINE honoured), data from a path, a URL or a Hub dataset.
import { loadDataset, type LoadOptions, type LoadResult } from '../data/load.ts';
import { loadDatasetFile } from '../data/node.ts';
import { DatasetError } from '../data/read/validate.ts';
import type { Runtime } from '../gpu/runtime.ts';
import { loadPretrained } from '../models/load.ts';
import { folderSource, hubOptionsFromEnv, loadPretrainedNode } from '../models/load-node.ts';
import type { DataSource } from './config.ts';
import { FolderStorage } from './storage-node.ts';
import type { TrainerEnv } from './trainer.ts';

export async function loadDataNode(source: Exclude<DataSource, 'bundled'>, opts: LoadOptions): Promise<LoadResult> {
  if ('path' in source) return loadDatasetFile(source.path, opts);
  const hub = hubOptionsFromEnv();
  const url = 'url' in source ? source.url : `${hub.endpoint}/datasets/${source.hub}/resolve/${encodeURIComponent(source.revision ?? 'main')}/${source.file}`;
  const name = 'url' in source ? (new URL(url).pathname.split('/').pop() || 'dataset') : source.file.split('/').pop()!;
  const headers: Record<string, string> = !('url' in source) && hub.token ? { authorization: `Bearer ${hub.token}` } : {};
  let res: Response;
  try {
    res = await fetch(url, { headers });
  } catch (e) {
    throw new DatasetError(`${url}: cannot download (${(e as Error).message})`);
  }
  if (!res.ok || !res.body) throw new DatasetError(`${url}: HTTP ${res.status} ${res.statusText}`);
  return loadDataset(res.body as ReadableStream<Uint8Array>, { name, ...opts });
}

/** `root`: the folder that holds one folder per run. */
export function nodeTrainerEnv(rt: Runtime, root: string, opts: { cacheDir?: string } = {}): TrainerEnv {
  return {
    rt,
    storage: new FolderStorage(root),
    // A path is always a folder: a missing one must not be taken for a Hub id.
    loadPretrained: (src, onProgress) =>
      'hub' in src ? loadPretrainedNode({ repo: src.hub, revision: src.revision }, { onProgress, cacheDir: opts.cacheDir }) : loadPretrained(folderSource(src.path), { onProgress }),
    loadData: loadDataNode,
  };
}
