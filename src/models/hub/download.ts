// One file over HTTP(S): streamed with progress, cancellable, with a stall timeout, its size checked
// against Content-Length, transient failures retried. Pure fetch + streams: runs in pages, workers
// and Node. The token only ever goes into the Authorization header; messages name the URL
// stripped of query and userinfo (safeUrl), never a header.
import { describe, HubAbortError, HubError, HubNotFoundError, safeUrl, type HubErrorContext } from './hub.ts';

export interface DownloadProgress {
  loaded: number;
  /** From Content-Length; unknown for chunked or compressed responses. */
  total?: number;
  /** loaded / total in [0, 1] when total is known. */
  fraction?: number;
}

export interface DownloadOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  signal?: AbortSignal;
  /** Give up when no byte arrives for this long, waiting for headers or mid-body (default 30 s). */
  stallTimeoutMs?: number;
  /** Further attempts after a retryable failure: 5xx, 429, reset, truncation, stall (default 2). */
  retries?: number;
  /** Wait before the first retry, doubled for each next one (default 1 s). */
  retryDelayMs?: number;
  /** A Content-Length above this is refused before anything is allocated (default 8 GiB). */
  maxBytes?: number;
  onProgress?: (p: DownloadProgress) => void;
  /** Names the file in errors (repo, revision, file). */
  context?: HubErrorContext;
  fetch?: typeof fetch;
}

const DEFAULTS = { stallTimeoutMs: 30_000, retries: 2, retryDelayMs: 1000, maxBytes: 8 * 2 ** 30 };

export async function download(url: string, opts: DownloadOptions = {}): Promise<Uint8Array> {
  const retries = opts.retries ?? DEFAULTS.retries;
  const ctx: HubErrorContext = { url: safeUrl(url), ...opts.context };
  let delay = opts.retryDelayMs ?? DEFAULTS.retryDelayMs;
  for (let attemptNo = 0; ; attemptNo++) {
    if (opts.signal?.aborted) throw new HubAbortError(ctx, opts.signal.reason);
    try {
      return await attempt(url, opts, ctx);
    } catch (e) {
      const last = attemptNo >= retries;
      if (!(e instanceof HubError) || !e.retryable || last) {
        if (e instanceof HubError && e.retryable && attemptNo > 0) {
          throw new HubError(`${e.message} (gave up after ${attemptNo + 1} attempts)`, e.context, { retryable: true, cause: e });
        }
        throw e;
      }
      await sleep(delay, opts.signal, ctx);
      delay *= 2;
    }
  }
}

async function attempt(url: string, opts: DownloadOptions, ctx: HubErrorContext): Promise<Uint8Array> {
  const stallMs = opts.stallTimeoutMs ?? DEFAULTS.stallTimeoutMs;
  const what = describe(ctx);
  const inner = new AbortController();
  let stalled = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      inner.abort();
    }, stallMs);
  };
  const onAbort = () => inner.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  // Every failure below ends here: which of cancel, stall and network it was decides retrying.
  const fail = (e: unknown, during: string): HubError => {
    if (e instanceof HubError) return e;
    if (opts.signal?.aborted) return new HubAbortError(ctx, opts.signal.reason);
    if (stalled) return new HubError(`${what}: no data received for ${stallMs} ms ${during} (stalled connection)`, ctx, { retryable: true });
    return new HubError(`${what}: network error ${during}: ${(e as Error)?.message ?? e}`, ctx, { retryable: true, cause: e });
  };
  arm();
  try {
    const headers: Record<string, string> = {};
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    let res: Response;
    try {
      res = await (opts.fetch ?? fetch)(url, { headers, signal: inner.signal, redirect: 'follow', cache: 'no-store' });
    } catch (e) {
      throw fail(e, 'before the response');
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw statusError(res, ctx, Boolean(opts.token));
    }
    // Content-Length counts encoded bytes; with a Content-Encoding the decoded body differs.
    const encoding = res.headers.get('content-encoding');
    const lengthHeader = res.headers.get('content-length');
    const total = lengthHeader !== null && /^\d+$/.test(lengthHeader) && (!encoding || encoding === 'identity') ? Number(lengthHeader) : undefined;
    const maxBytes = opts.maxBytes ?? DEFAULTS.maxBytes;
    if (total !== undefined && total > maxBytes) throw new HubError(`${what}: ${total} bytes is over the ${maxBytes}-byte limit`, ctx);
    let buf: Uint8Array;
    try {
      buf = new Uint8Array(total ?? 1 << 16);
    } catch {
      throw new HubError(`${what}: cannot allocate ${total} bytes for the download (out of memory?)`, ctx);
    }
    let loaded = 0;
    opts.onProgress?.({ loaded, total, fraction: total ? 0 : total === 0 ? 1 : undefined });
    if (!res.body) throw new HubError(`${what}: the response has no body`, ctx, { retryable: true });
    const reader = res.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw fail(e, `after ${loaded}${total !== undefined ? ` of ${total}` : ''} bytes`);
      }
      if (chunk.done) break;
      arm();
      const v = chunk.value;
      if (loaded + v.length > buf.length) {
        if (total !== undefined) throw new HubError(`${what}: the server sent more than the ${total} bytes its Content-Length announced`, ctx, { retryable: true });
        if (loaded + v.length > maxBytes) throw new HubError(`${what}: more than ${maxBytes} bytes, over the limit`, ctx);
        const grown = new Uint8Array(Math.min(maxBytes, Math.max(2 * buf.length, loaded + v.length)));
        grown.set(buf.subarray(0, loaded));
        buf = grown;
      }
      buf.set(v, loaded);
      loaded += v.length;
      opts.onProgress?.({ loaded, total, fraction: total ? loaded / total : undefined });
    }
    if (total !== undefined && loaded !== total) {
      throw new HubError(`${what}: truncated download, received ${loaded} of ${total} bytes`, ctx, { retryable: true });
    }
    return loaded === buf.length ? buf : buf.slice(0, loaded);
  } catch (e) {
    inner.abort(); // releases the connection of a failed body
    throw fail(e, 'while downloading');
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
}

function statusError(res: Response, ctx: HubErrorContext, hadToken: boolean): HubError {
  const what = describe(ctx);
  const status = res.status;
  // The Hub says which part was missing: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo.
  const code = res.headers.get('x-error-code');
  const c = { ...ctx, status };
  const tail = code ? ` (${code})` : '';
  if (status === 404) return new HubNotFoundError(`${what}: not found (HTTP 404${tail})`, c);
  if (status === 401 || status === 403) {
    const hint = hadToken ? 'the token was refused or has no access to this repository' : 'the repository may be private or gated: set an access token (HF_TOKEN in Node)';
    return new HubError(`${what}: access denied (HTTP ${status}${tail}): ${hint}`, c);
  }
  const retryable = status >= 500 || status === 429 || status === 408;
  return new HubError(`${what}: HTTP ${status}${res.statusText ? ` ${res.statusText}` : ''}${tail}`, c, { retryable });
}

function sleep(ms: number, signal: AbortSignal | undefined, ctx: HubErrorContext): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ms <= 0) return resolve();
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new HubAbortError(ctx, signal?.reason));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
