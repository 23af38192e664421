// Kernel benchmarks: each file in bench/kernels/ measures ours against a peer in the same run.
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
  printTable(rows as unknown as Record<string, unknown>[]);
  writeJson('bench/results/kernels.json', rows);
  console.log('wrote bench/results/kernels.json');
}
