// Turning a stream of tokens into a stream of text that is safe to show: whole characters only,
// and never the beginning of a stop string that may still complete.
import type { TokenDecoder } from './types.ts';

/**
 * Decodes tokens one at a time into text deltas. Decoding each token alone is wrong for byte-level
 * and SentencePiece tokenizers (a character split over tokens, a leading space that depends on the
 * previous token), so it decodes a short window that starts a few tokens back and emits what the
 * new token added, once that no longer ends in an incomplete character (U+FFFD), as Hugging Face
 * text-generation-inference does.
 */
export class IncrementalDecoder {
  private readonly ids: number[];
  private prefix: number;
  private read: number;

  constructor(
    private readonly tokenizer: TokenDecoder,
    context: readonly number[] = [],
    private readonly skipSpecial = true,
  ) {
    // A few context tokens give the first generated token the right leading space.
    this.ids = context.slice(-5);
    this.read = this.ids.length;
    this.prefix = 0;
  }

  /** The text the token adds; '' while it ends in an incomplete character. */
  push(id: number): string {
    this.ids.push(id);
    return this.emit(false);
  }

  /** Whatever is left, incomplete characters included (end of generation). */
  flush(): string {
    return this.emit(true);
  }

  private emit(final: boolean): string {
    const opts = { skipSpecial: this.skipSpecial };
    const before = this.tokenizer.decode(this.ids.slice(this.prefix, this.read), opts);
    const now = this.tokenizer.decode(this.ids.slice(this.prefix), opts);
    if (now.length <= before.length || (!final && now.endsWith('\uFFFD'))) return '';
    // Only `now` starting with `before` makes the slice a delta; a decoder that rewrote earlier
    // text (rare clean-ups) still yields its new tail.
    const delta = now.startsWith(before) ? now.slice(before.length) : now.slice(Math.min(before.length, now.length));
    this.prefix = this.read;
    this.read = this.ids.length;
    return delta;
  }
}

/**
 * Finds stop strings in text that arrives in pieces. `push` returns the text that can be shown:
 * everything up to a stop string once one is found, and otherwise everything except a tail that
 * could be the beginning of one (held back until the next piece resolves it).
 */
export class StopMatcher {
  private held = '';
  private readonly longest: number;
  /** The stop string that was found. */
  matched?: string;

  constructor(private readonly stops: readonly string[]) {
    for (const s of stops) if (s.length === 0) throw new Error('stop strings must not be empty');
    this.longest = Math.max(0, ...stops.map((s) => s.length));
  }

  push(delta: string): { text: string; stopped: boolean } {
    const buf = this.held + delta;
    this.held = '';
    let at = -1;
    for (const s of this.stops) {
      // Only the held tail plus the new text can contain a match the previous calls missed.
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) {
        at = i;
        this.matched = s;
      }
    }
    if (at >= 0) return { text: buf.slice(0, at), stopped: true };
    let keep = 0;
    for (let n = Math.min(this.longest - 1, buf.length); n > 0; n--) {
      const tail = buf.slice(buf.length - n);
      if (this.stops.some((s) => s.startsWith(tail))) {
        keep = n;
        break;
      }
    }
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** The held-back tail, released when generation ends for another reason. */
  flush(): string {
    const h = this.held;
    this.held = '';
    return h;
  }
}
