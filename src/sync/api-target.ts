import { readFile } from 'node:fs/promises';
import { SyncFailure } from './failure.js';
import type { CheckedDocuments, ServedDocuments } from './documents.js';
import type { PublishOutcome, SyncTarget } from './target.js';

export interface ApiTargetOptions {
  /** Base URL of the registration API, e.g. https://idbridge.example.com. */
  apiUrl: string;
  cluster: string;
  /** The projected ServiceAccount token whose audience is the API's; read again for every push. */
  tokenFile: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /**
   * The provider each push follows (`projects/…/providers/PROV`): sent as `provider`, so the API
   * records the key event as a provider upload. Set by ProviderThenApiTarget.
   */
  provider?: string;
}

/** An answer of idbridge's API that is an error: `{"error": {"code", "message"}}`. */
interface ApiErrorBody {
  error?: { code?: unknown; message?: unknown };
}

/**
 * Pushes the cluster's documents to `PUT /api/v1/clusters/{cluster}/keys`, authenticated with the
 * sync job's own projected token, and classifies the answer for the retry loop: conflicts, 429
 * and 5xx are retried; refusals carry the API's own message (what to fix) and are not.
 */
export class ApiTarget implements SyncTarget {
  readonly description: string;
  readonly #options: ApiTargetOptions;
  readonly #fetch: typeof fetch;

  constructor(options: ApiTargetOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    this.description = `${options.apiUrl}/api/v1/clusters/${options.cluster}/keys`;
  }

  async publish(_checked: CheckedDocuments, served: ServedDocuments): Promise<PublishOutcome> {
    // Read for every push: kubelet replaces the projected token before it expires.
    const token = await readToken(this.#options.tokenFile);
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(this.description, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify({
          jwks: served.jwks,
          discovery: served.discovery,
          ...(this.#options.provider !== undefined ? { provider: this.#options.provider } : {}),
        }),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 15_000),
      });
      text = await res.text();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new SyncFailure(
        'unavailable',
        `cannot reach the registration API at ${new URL(this.#options.apiUrl).origin} (${cause})`,
        true,
        { cause: err },
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status === 200 && isOutcome(body)) {
      return {
        changed: body.changed,
        added: body.added,
        removed: body.removed,
        warnings: Array.isArray(body.warnings) ? body.warnings.map(String) : [],
        ...(typeof body.cluster?.version === 'number' ? { version: body.cluster.version } : {}),
      };
    }
    const error = (body as ApiErrorBody | undefined)?.error;
    const code = typeof error?.code === 'string' ? error.code : undefined;
    const message = typeof error?.message === 'string' ? error.message.slice(0, 1000) : undefined;
    const said = `the registration API answered ${res.status}${code ? ` ${code}` : ''}`;
    if (res.status === 200 || !message) {
      // A proxy's error page, or something else that is not idbridge's API.
      const retryable = res.status === 200 || res.status === 429 || res.status >= 500;
      throw new SyncFailure(
        retryable ? 'unavailable' : 'refused',
        `${said} with a body that is not idbridge's JSON; check that --api is the registration API's base URL`,
        retryable,
      );
    }
    if (res.status === 409 || res.status === 429 || res.status >= 500)
      throw new SyncFailure('unavailable', `${said}: ${message}`, true);
    // The cluster's own documents were refused: fix the cluster, not the sync job.
    if (code === 'issuer_mismatch' || code === 'invalid_jwks' || code === 'invalid_discovery')
      throw new SyncFailure('documents', `${said}: ${message}`, false);
    throw new SyncFailure('refused', `${said}: ${message}`, false);
  }
}

async function readToken(path: string): Promise<string> {
  let token: string;
  try {
    token = (await readFile(path, 'utf8')).trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SyncFailure(
      'config',
      `cannot read the token file ${path} (${code ?? 'error'}): mount a projected ServiceAccount token whose audience is the API's IDBRIDGE_SYNC_AUDIENCE there (infra/k8s/sync does)`,
      false,
      { cause: err },
    );
  }
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token)) {
    throw new SyncFailure(
      'config',
      `the token file ${path} does not hold a JWT; point --token-file at the projected ServiceAccount token`,
      false,
    );
  }
  return token;
}

function isOutcome(body: unknown): body is {
  changed: boolean;
  added: string[];
  removed: string[];
  warnings?: unknown[];
  cluster?: { version?: unknown };
} {
  const b = body as Record<string, unknown> | undefined;
  return (
    !!b && typeof b.changed === 'boolean' && Array.isArray(b.added) && Array.isArray(b.removed)
  );
}
