/**
 * One error type for everything idbridge refuses. `code` is a domain code, the closed set below,
 * chosen where the error is thrown; `message` says what is wrong and how to fix it; `status` is
 * chosen here, once. What a code becomes on each wire (idbridge JSON, Google STS, Google IAM, AWS STS, Entra ID) is
 * decided by that wire's module under src/http/wire/, never at the throw site.
 */
export const errorStatus = {
  invalid_request: 400,
  /** A token request for a grant type other than token exchange. */
  unsupported_grant_type: 400,
  /** A token request whose scopes are not acceptable. */
  invalid_scope: 400,
  invalid_cluster_id: 400,
  invalid_jwks: 400,
  invalid_discovery: 400,
  issuer_mismatch: 400,
  invalid_record: 400,
  unauthenticated: 401,
  permission_denied: 403,
  /** The cluster's broker policy does not list the workload identity provider asked for. */
  provider_not_allowed: 403,
  /** The cluster's broker policy does not list the token's subject. */
  subject_not_allowed: 403,
  /** The cluster's broker policy does not list the AWS IAM role asked for. */
  role_not_allowed: 403,
  /** The cluster's broker policy does not list the Entra ID application (client id) asked for. */
  client_not_allowed: 403,
  cluster_not_found: 404,
  not_found: 404,
  method_not_allowed: 405,
  cluster_exists: 409,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  internal: 500,
  bad_gateway: 502,
  /** The registry's store (disk, Cloud Storage) cannot be read or written. */
  store_unavailable: 503,
  /** A dependency other than the store cannot be reached (e.g. Google). */
  unavailable: 503,
  /** The host lacks configuration the request needs (a variable to set and restart). */
  misconfigured: 503,
  /** The process has not finished starting (a cache still loading, a store not reachable). */
  not_ready: 503,
  gateway_timeout: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** One finding inside a larger refusal, e.g. which key of a JWKS is wrong. */
export interface ErrorDetail {
  path: string;
  message: string;
}

export interface IdbridgeErrorOptions {
  cause?: unknown;
  /** Seconds a client should wait before retrying; every wire sends it as Retry-After. */
  retryAfter?: number;
}

export class IdbridgeError extends Error {
  override readonly name = 'IdbridgeError';
  readonly status: number;
  readonly retryAfter?: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
    options?: IdbridgeErrorOptions,
  ) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.status = errorStatus[code];
    if (options?.retryAfter !== undefined) this.retryAfter = options.retryAfter;
  }
}

/** Raised by a store when a compare-and-swap loses: the caller re-reads and retries. */
export class StoreConflictError extends IdbridgeError {
  constructor(what: string) {
    super('conflict', `${what} was changed by another writer; re-read it and retry`);
  }
}

export function isIdbridgeError(err: unknown): err is IdbridgeError {
  return err instanceof IdbridgeError;
}
