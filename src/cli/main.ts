#!/usr/bin/env node
// `pupil <command> ...`: each command lives in its own file under src/cli/commands/ and is
// loaded only when used.
const commands: Record<string, { summary: string; load: () => Promise<{ main: (argv: string[]) => Promise<number> }> }> = {
  data: { summary: 'inspect a dataset: pupil data inspect FILE [--format F] [--tokenizer DIR]', load: () => import('./commands/data.ts') },
  train: { summary: 'train a student: pupil train --config run.json | --student S --data D --steps N --out DIR [--resume DIR]', load: () => import('./commands/train.ts') },
  chat: { summary: 'chat with a checkpoint: pupil chat --checkpoint DIR [--prompt TEXT] [--temperature X]', load: () => import('./commands/chat.ts') },
  eval: { summary: 'validation loss, perplexity and exact-match: pupil eval --checkpoint DIR [--data FILE]', load: () => import('./commands/eval.ts') },
  bench: { summary: 'benchmarks on this GPU: pupil bench [kernels|train] [filter]', load: () => import('./commands/bench.ts') },
  export: { summary: 'write a checkpoint or model as a Hugging Face folder: pupil export SOURCE --out DIR [--dtype f16]', load: () => import('./commands/export.ts') },
  distill: { summary: 'distillation tools: pupil distill topk | self-instruct | regenerate ... (pupil distill --help)', load: () => import('./commands/distill.ts') },
  serve: { summary: 'an OpenAI-compatible server for a checkpoint: pupil serve --checkpoint DIR [--port N] [--host H] [--model-name NAME]', load: () => import('./commands/serve.ts') },
};

function usage(): string {
  return ['usage: pupil <command> [options]', '', 'commands:', ...Object.entries(commands).map(([n, c]) => `  ${n.padEnd(8)} ${c.summary}`)].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`pupil: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await cmd.load()).main(rest);
}

process.exitCode = await main(process.argv.slice(2));
