// Training progress on the terminal: a live bar (cli-progress) with loss, tokens/s and ETA when
// stdout is a terminal; plain lines every few steps otherwise (CI logs, pipes, tests), so nothing
// but text and newlines reaches a file.
import cliProgress from 'cli-progress';

export interface StepInfo {
  step: number;
  loss: number;
  lr: number;
  tokensPerSecond: number;
  /** Tokens so far: when given, tokens/s is shown over the recent steps (one step's own rate is jumpy). */
  tokensSeen?: number;
  gradNorm?: number;
  accuracy?: number;
  skipped?: boolean;
}

export interface ProgressOptions {
  /** Last step of the run. */
  total: number;
  /** First step shown (a resumed run starts past 0). */
  start?: number;
  stream?: NodeJS.WriteStream;
  /** Forces the live bar on or off; by default it follows `stream.isTTY`. */
  tty?: boolean;
  /** Plain mode prints a line every this many steps (and the first and last). */
  every?: number;
  now?: () => number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function formatLr(x: number): string {
  return x === 0 ? '0' : x.toExponential(2);
}

export function formatLoss(x: number): string {
  return Number.isFinite(x) ? x.toFixed(4) : String(x);
}

/** One plain progress line; tests and scripts match on its `step N/T loss X` prefix. */
export function stepLine(info: StepInfo, total: number, etaSeconds: number): string {
  const parts = [`step ${info.step}/${total}`, `loss ${formatLoss(info.loss)}`, `lr ${formatLr(info.lr)}`];
  if (info.gradNorm !== undefined) parts.push(`grad ${Number.isFinite(info.gradNorm) ? info.gradNorm.toFixed(3) : info.gradNorm}`);
  if (info.accuracy !== undefined) parts.push(`acc ${(info.accuracy * 100).toFixed(1)}%`);
  parts.push(`${Math.round(info.tokensPerSecond)} tok/s`, `eta ${formatDuration(etaSeconds)}`);
  if (info.skipped) parts.push('SKIPPED (non-finite)');
  return parts.join(' | ');
}

export class Progress {
  private readonly total: number;
  private readonly stream: NodeJS.WriteStream;
  private readonly every: number;
  private readonly now: () => number;
  private readonly multi?: cliProgress.MultiBar;
  private readonly bar?: cliProgress.SingleBar;
  /** (time ms, step, tokens seen) of recent steps: the ETA follows the recent pace, not the warm-up. */
  private readonly recent: [number, number, number | undefined][] = [];
  private lastPrinted = -1;

  constructor(opts: ProgressOptions) {
    this.total = opts.total;
    this.stream = opts.stream ?? process.stdout;
    this.now = opts.now ?? (() => performance.now());
    const start = opts.start ?? 0;
    this.every = Math.max(1, opts.every ?? Math.ceil((this.total - start) / 50));
    this.recent.push([this.now(), start, undefined]);
    if (opts.tty ?? this.stream.isTTY === true) {
      this.multi = new cliProgress.MultiBar(
        {
          stream: this.stream,
          format: ' {bar} {value}/{total} | loss {loss} | {tps} tok/s | lr {lr} | ETA {etaText}',
          hideCursor: true,
          clearOnComplete: false,
          barsize: 30,
          fps: 5,
          // Without this cli-progress stays silent whenever the stream is not a TTY.
          noTTYOutput: !this.stream.isTTY,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multi.create(this.total, start, { loss: '-', tps: '-', lr: '-', etaText: '?' });
    }
  }

  /** Seconds left and tokens per second at the recent pace (the last 20 steps). */
  pace(info: StepInfo): { eta: number; tokensPerSecond: number } {
    const now = this.now();
    this.recent.push([now, info.step, info.tokensSeen]);
    if (this.recent.length > 21) this.recent.shift();
    const [t0, s0] = this.recent[0];
    const dt = (now - t0) / 1000;
    const rate = (info.step - s0) / dt;
    // The start entry has no token count: the window's tokens begin at its first counted step.
    const first = this.recent.find((r) => r[2] !== undefined && r !== this.recent.at(-1));
    const tokensPerSecond = first && info.tokensSeen !== undefined && now > first[0] ? (info.tokensSeen - first[2]!) / ((now - first[0]) / 1000) : info.tokensPerSecond;
    return { eta: rate > 0 ? (this.total - info.step) / rate : NaN, tokensPerSecond };
  }

  step(info: StepInfo): void {
    const { eta, tokensPerSecond } = this.pace(info);
    const shown = { ...info, tokensPerSecond };
    if (this.bar) {
      this.bar.update(info.step, { loss: formatLoss(info.loss), tps: Math.round(tokensPerSecond), lr: formatLr(info.lr), etaText: formatDuration(eta) });
      if (info.skipped) this.log(`step ${info.step}: non-finite loss or gradient, update skipped`);
      return;
    }
    if (info.step === 1 || info.step >= this.total || info.skipped || info.step - this.lastPrinted >= this.every || this.lastPrinted < 0) {
      this.lastPrinted = info.step;
      this.stream.write(stepLine(shown, this.total, eta) + '\n');
    }
  }

  /** A line of its own (eval results, samples, checkpoints) above the bar. */
  log(line: string): void {
    if (this.multi) this.multi.log(line.endsWith('\n') ? line : line + '\n');
    else this.stream.write(line.endsWith('\n') ? line : line + '\n');
  }

  stop(): void {
    this.multi?.stop();
  }
}
