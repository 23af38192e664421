// Spawning the real CLI (bin/pupil.js) from tests, synchronously or as a live child process.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));
// HF_HUB_OFFLINE: nothing may reach the internet; NO_COLOR and no TTY: plain progress lines.
const env = { ...process.env, HF_HUB_OFFLINE: '1', NO_COLOR: '1' };

export interface Result {
  code: number | null;
  out: string;
  err: string;
}

export function pupil(args: string[], opts: { input?: string } = {}): Result {
  const r = spawnSync(process.execPath, ['bin/pupil.js', ...args], { cwd: root, encoding: 'utf8', env, input: opts.input, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Runs the CLI asynchronously (several at once when the tests allow). */
export function pupilAsync(args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/pupil.js', ...args], { cwd: root, env });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

/** A live CLI process whose output can be awaited line by line. */
export class Live {
  readonly child: ChildProcess;
  out = '';
  err = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['bin/pupil.js', ...args], { cwd: root, env });
    this.child.stdout!.on('data', (d) => (this.out += d));
    this.child.stderr!.on('data', (d) => (this.err += d));
    this.exited = new Promise((res) => this.child.on('close', (code) => res(code)));
  }

  /** Resolves once stdout matches `re` (rejects if the process exits first). */
  async waitFor(re: RegExp, timeoutMs = 90_000): Promise<RegExpMatchArray> {
    const t0 = Date.now();
    let done = false;
    void this.exited.then(() => (done = true));
    for (;;) {
      const m = this.out.match(re);
      if (m) return m;
      if (done) throw new Error(`exited before ${re}:\n${this.out}\n${this.err}`);
      if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${re}:\n${this.out}\n${this.err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The step numbers and losses of the `step N/T | loss X` lines. */
export function stepLines(out: string): Map<number, string> {
  return new Map([...out.matchAll(/^step (\d+)\/\d+ \| loss (\S+)/gm)].map((m) => [Number(m[1]), m[2]]));
}
