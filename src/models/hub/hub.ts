// Where files of a Hugging Face Hub repository live, and the errors a Hub load can end with.
// Pure TypeScript (no Node imports): the page, the worker and Node share it. Node's environment
// conventions (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE) are read by load-node.ts, never here, so a
// bundle for the browser carries no `process` lookups.

export const DEFAULT_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_REVISION = 'main';

export interface HubLocation {
  /** Without a trailing slash; a mirror or a local test server works the same way. */
  endpoint: string;
  /** `owner/name` (or a bare `name` for legacy repos such as `gpt2`). */
  repo: string;
  /** Branch, tag or commit; `refs/pr/1` style names are escaped as the Hub expects. */
  revision: string;
}

// The Hub's own rule: letters, digits, `-`, `_`, `.`; at most one `/`; no `--` or `..`.
const REPO_ID = /^(?:[A-Za-z0-9][\w.-]*\/)?[A-Za-z0-9][\w.-]*$/;

export function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('--') || repo.includes('..') || repo.length > 96) {
    throw new HubError(`${JSON.stringify(repo)} is not a Hub repository id (expected "owner/name")`, { repo });
  }
}

/** `{endpoint}/{repo}/resolve/{revision}/{file}`, the Hub's download URL. */
export function hubFileUrl(loc: HubLocation, file: string): string {
  const path = file.split('/').map(encodeURIComponent).join('/');
  return `${loc.endpoint.replace(/\/+$/, '')}/${loc.repo}/resolve/${encodeURIComponent(loc.revision)}/${path}`;
}

/** What a failed load was after: enough to name it in a message, never a token. */
export interface HubErrorContext {
  repo?: string;
  revision?: string;
  file?: string;
  url?: string;
  status?: number;
}

/** Every failure of the hub layer; `retryable` marks transient network trouble. */
export class HubError extends Error {
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly context: HubErrorContext = {},
    opts: { retryable?: boolean; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'HubError';
    this.retryable = opts.retryable ?? false;
  }
}

/** The file is not there (404): the caller may treat optional files as absent. */
export class HubNotFoundError extends HubError {
  constructor(message: string, context: HubErrorContext) {
    super(message, context);
    this.name = 'HubNotFoundError';
  }
}

/** The user cancelled through their AbortSignal: never retried, never cached. */
export class HubAbortError extends HubError {
  constructor(context: HubErrorContext, cause?: unknown) {
    super(`download of ${context.file ?? context.url ?? 'a file'} was cancelled`, context, { cause });
    this.name = 'AbortError';
  }
}

/** "owner/name@revision: file" for messages. */
export function describe(ctx: HubErrorContext): string {
  if (ctx.repo) return `${ctx.repo}@${ctx.revision ?? DEFAULT_REVISION}: ${ctx.file ?? ''}`.replace(/: $/, '');
  return ctx.url ?? ctx.file ?? 'file';
}

/**
 * A URL fit for a message or a log: query strings can carry signed credentials, and userinfo
 * (`https://user:pass@host`) is a credential itself.
 */
export function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}
