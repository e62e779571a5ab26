/**
 * One error type for everything idbridge refuses. `code` is stable (tests and clients switch on
 * it); `message` says what is wrong and how to fix it; `status` is chosen here, once, so every
 * HTTP layer maps errors the same way.
 */
export const errorStatus = {
  invalid_request: 400,
  invalid_cluster_id: 400,
  invalid_jwks: 400,
  invalid_discovery: 400,
  issuer_mismatch: 400,
  invalid_record: 400,
  unauthenticated: 401,
  permission_denied: 403,
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
  store_unavailable: 503,
  unavailable: 503,
  gateway_timeout: 504,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** One finding inside a larger refusal, e.g. which key of a JWKS is wrong. */
export interface ErrorDetail {
  path: string;
  message: string;
}

export class IdbridgeError extends Error {
  override readonly name = 'IdbridgeError';
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetail[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.status = errorStatus[code];
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
