// `npm run bench -- <suite> [filter]`: suites are files in bench/ exporting `run(filter)`.
export {};
const suites: Record<string, () => Promise<{ run: (filter?: string) => Promise<void> }>> = {
  kernels: () => import('./kernels.ts'),
  train: () => import('./train.ts'),
  profile: () => import('./profile.ts'),
};

const [name = 'kernels', filter] = process.argv.slice(2);
const load = suites[name];
if (!load) {
  console.error(`unknown benchmark suite "${name}"; choose one of: ${Object.keys(suites).join(', ')}`);
  process.exit(2);
}
await (await load()).run(filter);
process.exit(0);
