import { errorStatus, IdbridgeError, type ErrorCode, type ErrorDetail } from '../errors.js';
import type { ClusterView, CreateClusterRequest, UpdateClusterRequest } from '../api/schemas.js';
import type { ErrorBody } from '../http/errors.js';
import { describeFetchError } from '../net/fetch-error.js';

/** POST /api/v1/clusters answers this. */
export interface CreateClusterResponse {
  cluster: ClusterView;
  kubeApiserver: { flags: string[]; notes: string[] };
  warnings: string[];
  next: string[];
}

export interface PutKeysResponse {
  cluster: ClusterView;
  added: string[];
  removed: string[];
  changed: boolean;
  warnings: string[];
}

export interface AdminClientOptions {
  /** Base URL of the registration API's host, e.g. https://idbridge.example.com (without /api/v1). */
  api: string;
  /** The admin bearer token; never shown in any message. */
  token: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

const STATUS_CODES: Record<number, ErrorCode> = {
  400: 'invalid_request',
  401: 'unauthenticated',
  403: 'permission_denied',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  412: 'precondition_failed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
};

/** The idbridge error of an API refusal: the server's code and message, with a hint for 401. */
export function apiError(status: number, body: unknown, api: string): IdbridgeError {
  const parsed = (body as Partial<ErrorBody> | null)?.error;
  const known =
    parsed && typeof parsed.code === 'string' && parsed.code in errorStatus
      ? (parsed.code as ErrorCode)
      : undefined;
  const code: ErrorCode =
    known ?? STATUS_CODES[status] ?? (status >= 500 ? 'bad_gateway' : 'invalid_request');
  if (!parsed || typeof parsed.message !== 'string') {
    return new IdbridgeError(
      code === 'invalid_request' || status >= 500 ? 'bad_gateway' : code,
      `the API at ${api} answered HTTP ${status} without idbridge's error body; check --api (it is the base URL of idbridge serve or the registration function, without /api/v1)`,
    );
  }
  const hint =
    status === 401 && !parsed.message.includes('IDBRIDGE_ADMIN_TOKEN')
      ? ' — set IDBRIDGE_ADMIN_TOKEN (or --admin-token) to the token `idbridge serve` printed on first start (kept in DATA_DIR/admin-token)'
      : '';
  const details: ErrorDetail[] = Array.isArray(parsed.details) ? parsed.details : [];
  return new IdbridgeError(code, `${parsed.message}${hint}`, details);
}

/** The admin client of the registration API (`/api/v1/clusters…`). */
export class AdminClient {
  readonly api: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(options: AdminClientOptions) {
    this.api = options.api.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
  }

  async #call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    let res: Response;
    try {
      res = await this.#fetch(`${this.api}/api/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'error',
      });
    } catch (err) {
      throw new IdbridgeError(
        'bad_gateway',
        `cannot reach the registration API at ${this.api}: ${describeFetchError(err, this.#timeoutMs)}`,
      );
    }
    const text = await res.text();
    let parsed: unknown = null;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    if (!res.ok) throw apiError(res.status, parsed, this.api);
    if (text !== '' && parsed === null) {
      throw new IdbridgeError(
        'bad_gateway',
        `the API at ${this.api} answered HTTP ${res.status} with something that is not JSON; check --api`,
      );
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  async create(
    request: Partial<CreateClusterRequest> & { id: string },
  ): Promise<CreateClusterResponse> {
    return (await this.#call<CreateClusterResponse>('POST', '/clusters', request)).body;
  }

  /** Every cluster, following nextPageToken. */
  async list(pageSize = 500): Promise<ClusterView[]> {
    const clusters: ClusterView[] = [];
    let pageToken: string | undefined;
    do {
      const query = new URLSearchParams({
        limit: String(pageSize),
        ...(pageToken ? { pageToken } : {}),
      });
      const { body } = await this.#call<{ clusters: ClusterView[]; nextPageToken?: string }>(
        'GET',
        `/clusters?${query}`,
      );
      clusters.push(...body.clusters);
      pageToken = body.nextPageToken;
    } while (pageToken);
    return clusters;
  }

  async get(id: string): Promise<ClusterView> {
    return (
      await this.#call<{ cluster: ClusterView }>('GET', `/clusters/${encodeURIComponent(id)}`)
    ).body.cluster;
  }

  async update(
    id: string,
    changes: UpdateClusterRequest,
    ifVersion?: number,
  ): Promise<ClusterView> {
    return (
      await this.#call<{ cluster: ClusterView }>(
        'PATCH',
        `/clusters/${encodeURIComponent(id)}`,
        changes,
        ifMatch(ifVersion),
      )
    ).body.cluster;
  }

  async putKeys(
    id: string,
    documents: { jwks: unknown; discovery?: unknown },
    ifVersion?: number,
  ): Promise<PutKeysResponse> {
    return (
      await this.#call<PutKeysResponse>(
        'PUT',
        `/clusters/${encodeURIComponent(id)}/keys`,
        documents,
        ifMatch(ifVersion),
      )
    ).body;
  }

  async delete(id: string, ifVersion?: number): Promise<void> {
    await this.#call<null>(
      'DELETE',
      `/clusters/${encodeURIComponent(id)}`,
      undefined,
      ifMatch(ifVersion),
    );
  }
}

function ifMatch(version: number | undefined): Record<string, string> {
  return version === undefined ? {} : { 'if-match': `"${version}"` };
}
