// `pupil distill <sub>`: distillation tools, one file per subcommand, each loaded only when used.
const subcommands: Record<string, { summary: string; load: () => Promise<{ main: (argv: string[]) => Promise<number> }> }> = {
  'self-instruct': { summary: 'new instruction/response records from a teacher: pupil distill self-instruct --teacher DIR | --teacher-url URL --teacher-model NAME --count N --out FILE.jsonl', load: () => import('./distill-generate.ts').then((m) => ({ main: m.selfInstructMain })) },
  regenerate: { summary: "a dataset's responses rewritten by a teacher: pupil distill regenerate --teacher DIR | --teacher-url URL --teacher-model NAME --data FILE --out FILE.jsonl", load: () => import('./distill-generate.ts').then((m) => ({ main: m.regenerateMain })) },
  topk: { summary: "a dataset's teacher top-k for offline distillation: pupil distill topk --teacher DIR --data FILE --out FILE.topk.safetensors [--top-k 16]", load: () => import('./distill-topk.ts') },
};

function usage(): string {
  return ['usage: pupil distill <subcommand> [options]', '', 'subcommands:', ...Object.entries(subcommands).map(([n, c]) => `  ${n.padEnd(14)} ${c.summary}`)].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const sub = subcommands[name];
  if (!sub) {
    console.error(`pupil distill: unknown subcommand "${name}"\n\n${usage()}`);
    return 2;
  }
  return (await sub.load()).main(rest);
}
