import type { ErrorCode, ErrorDetail, IdbridgeError } from '../../errors.js';
import { retryAfterHeader, type WireAnswer } from './answer.js';

/**
 * idbridge's own JSON error shape (registration API, issuer, edge, webhook, Cloud Function
 * start-up): `{"error":{"code","message","details"?}}` with the domain status.
 */
export interface ErrorBody {
  error: { code: string; message: string; details?: ErrorDetail[] };
}

/**
 * The `code` clients read, where it is not the domain code itself. Codes that appeared after
 * clients already switched on the older answer keep that answer on this wire.
 */
const WIRE_CODES: Partial<Record<ErrorCode, string>> = {
  unsupported_grant_type: 'invalid_request',
  invalid_scope: 'invalid_request',
  provider_not_allowed: 'permission_denied',
  subject_not_allowed: 'permission_denied',
  role_not_allowed: 'permission_denied',
  client_not_allowed: 'permission_denied',
  misconfigured: 'store_unavailable',
  not_ready: 'store_unavailable',
};

export function idbridgeCode(code: ErrorCode): string {
  return WIRE_CODES[code] ?? code;
}

export function idbridgeBody(err: IdbridgeError): ErrorBody {
  return {
    error: {
      code: idbridgeCode(err.code),
      message: err.message,
      ...(err.details.length > 0 ? { details: err.details } : {}),
    },
  };
}

/** Headers of a refusal: Retry-After when the error carries one, then the caller's. */
export function idbridgeHeaders(
  err: IdbridgeError,
  headers: Record<string, string> = {},
): Record<string, string> {
  return { ...retryAfterHeader(err), ...headers };
}

/** The whole answer, for hosts that write bytes themselves (Cloud Function, Worker start-up, Node fast paths). */
export function idbridgeAnswer(
  err: IdbridgeError,
  headers: Record<string, string> = {},
): WireAnswer {
  return {
    status: err.status,
    headers: { 'content-type': 'application/json', ...idbridgeHeaders(err, headers) },
    body: JSON.stringify(idbridgeBody(err)),
  };
}
