// `pupil bench [kernels|train] [filter]`: the benchmark suites of bench/ (the same code as
// `npm run bench`), for an installed CLI. Results go where the suites write them (bench/results/).
import { parseArgs } from 'node:util';

const SUITES: Record<string, () => Promise<{ run: (filter?: string) => Promise<void> }>> = {
  kernels: () => import('../../../bench/kernels.ts'),
  train: () => import('../../../bench/train.ts'),
};

const USAGE = `usage: pupil bench [${Object.keys(SUITES).join('|')}] [filter]

Runs a benchmark suite (default kernels) on this machine's GPU; the filter is passed to the suite
(e.g. \`pupil bench train quick\`, \`pupil bench kernels matmul\`).`;

export async function main(argv: string[]): Promise<number> {
  let positionals: string[], help: boolean | undefined;
  try {
    ({ positionals, values: { help } } = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    console.error(`pupil bench: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (help) {
    console.log(USAGE);
    return 0;
  }
  const [name = 'kernels', filter, ...extra] = positionals;
  const load = SUITES[name];
  if (!load || extra.length) {
    console.error(`pupil bench: ${!load ? `unknown suite "${name}"; choose one of: ${Object.keys(SUITES).join(', ')}` : `unexpected argument ${extra[0]}`}\n\n${USAGE}`);
    return 2;
  }
  try {
    await (await load()).run(filter);
    return 0;
  } catch (e) {
    console.error(`pupil bench: ${(e as Error).message}`);
    return 1;
  }
}
