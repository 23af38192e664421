// Showing which tokens carry loss: spans for the UI, marked text for the command line.
import { trainedMask, type TokenizedExample } from './mask.ts';
import type { TextTokenizer } from './tokenizer.ts';

export interface TrainedSpan {
  text: string;
  trained: boolean;
}

/** Runs of consecutive tokens with the same trained flag, each decoded (special tokens shown). */
export function trainedSpans(ex: TokenizedExample, tokenizer: TextTokenizer): TrainedSpan[] {
  const mask = trainedMask(ex);
  const spans: TrainedSpan[] = [];
  let start = 0;
  for (let t = 1; t <= ex.ids.length; t++) {
    if (t === ex.ids.length || mask[t] !== mask[start]) {
      spans.push({ text: tokenizer.decode(ex.ids.subarray(start, t)), trained: mask[start] === 1 });
      start = t;
    }
  }
  return spans;
}

const GREEN = '\x1b[32;1m';
const RESET = '\x1b[0m';
export const TRAINED_OPEN = '[[';
export const TRAINED_CLOSE = ']]';

/** Trained text in bold green when `color`, otherwise between [[ and ]]. */
export function markTrained(spans: readonly TrainedSpan[], opts: { color: boolean }): string {
  return spans
    .map((s) => (!s.trained ? s.text : opts.color ? GREEN + s.text + RESET : TRAINED_OPEN + s.text + TRAINED_CLOSE))
    .join('');
}
