// Kernel benchmarks: each file in bench/kernels/ measures ours against a peer in the same run.
import { existsSync, readFileSync } from 'node:fs';
import { nodeGPU } from '../src/gpu/node.ts';
import { Runtime } from '../src/gpu/runtime.ts';
import { printTable, writeJson, type KernelRow } from './common.ts';

const families: Record<string, () => Promise<{ bench: (rt: Runtime, filter?: string) => Promise<KernelRow[]> }>> = {
  matmul: () => import('./kernels/matmul.ts'),
  attention: () => import('./kernels/attention.ts'),
  norm: () => import('./kernels/norm.ts'),
};

export async function run(filter?: string): Promise<void> {
  const gpu = await nodeGPU();
  const rt = await Runtime.create({ gpu });
  const rows: KernelRow[] = [];
  for (const [name, load] of Object.entries(families)) {
    if (filter && !filter.split(',').some((f) => name.startsWith(f))) continue;
    rows.push(...(await (await load()).bench(rt, filter)));
  }
  if (!rows.length) {
    console.error(`no kernel benchmark matches "${filter}"; families: ${Object.keys(families).join(', ')}`);
    process.exitCode = 2;
    return;
  }
  printTable(rows as unknown as Record<string, unknown>[]);
  // A filtered run replaces only its own rows, so measuring one family keeps the others' figures.
  const path = 'bench/results/kernels.json';
  const key = (r: KernelRow) => `${r.name}|${r.shape}`;
  const fresh = new Set(rows.map(key));
  const kept = existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as KernelRow[]).filter((r) => !fresh.has(key(r))) : [];
  writeJson(path, [...kept, ...rows]);
  console.log(`wrote ${path}`);
}
