// Packing: several tokenized examples share one row of length T. Each keeps its own segment id
// and positions that restart at 0, so the attention kernel's segment mask stops them seeing one
// another and RoPE sees every example as if it started the sequence. An example's last target is
// already -100 (mask.ts), so no loss crosses a boundary.
import type { TokenizedExample } from './mask.ts';

/**
 * First-fit over a window of the most recently opened rows, in the given (shuffled) order: the
 * order stays random, unlike first-fit-decreasing, and the cost stays O(n · window). With a
 * window of 64 rows the wasted share is typically a few percent for instruction data.
 */
export function packRows(examples: readonly TokenizedExample[], T: number, window = 64): TokenizedExample[][] {
  const rows: { items: TokenizedExample[]; free: number }[] = [];
  let firstOpen = 0;
  for (const ex of examples) {
    const n = ex.ids.length;
    if (n > T) throw new Error(`example of ${n} tokens does not fit a row of ${T} (tokenize with maxLength = T)`);
    let row = rows.slice(firstOpen).find((r) => r.free >= n);
    if (!row) {
      row = { items: [], free: T };
      rows.push(row);
      firstOpen = Math.max(firstOpen, rows.length - window);
    }
    row.items.push(ex);
    row.free -= n;
  }
  return rows.map((r) => r.items);
}
