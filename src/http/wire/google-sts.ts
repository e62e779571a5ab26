import type { ErrorCode, IdbridgeError } from '../../errors.js';
import { retryAfterHeader, type WireAnswer } from './answer.js';
import { jsonAnswer } from './google-json.js';

/** OAuth error codes as Google STS answers them (RFC 6749 §5.2, RFC 8693 §2.2.2). */
export type StsErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'invalid_target'
  | 'invalid_scope'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'temporarily_unavailable'
  | 'server_error';

/** The OAuth code of each domain code; any other is `invalid_request`. */
const STS_CODES: Partial<Record<ErrorCode, StsErrorCode>> = {
  unauthenticated: 'invalid_grant',
  permission_denied: 'unauthorized_client',
  subject_not_allowed: 'unauthorized_client',
  provider_not_allowed: 'invalid_target',
  role_not_allowed: 'invalid_target',
  client_not_allowed: 'invalid_target',
  unsupported_grant_type: 'unsupported_grant_type',
  invalid_scope: 'invalid_scope',
  rate_limited: 'temporarily_unavailable',
  unavailable: 'temporarily_unavailable',
  store_unavailable: 'temporarily_unavailable',
  not_ready: 'temporarily_unavailable',
  misconfigured: 'server_error',
  internal: 'server_error',
  bad_gateway: 'server_error',
  gateway_timeout: 'server_error',
};

export function stsCodeOf(code: ErrorCode): StsErrorCode {
  return STS_CODES[code] ?? 'invalid_request';
}

/** OAuth answers every refusal of a grant with 400 (RFC 6749 §5.2); the rest keep their status. */
export function stsStatusOf(status: number): number {
  return status === 401 || status === 403 ? 400 : status;
}

/** A refusal on Google STS' wire: `{"error","error_description"}`, no-store, Retry-After when known. */
export function stsError(err: IdbridgeError, headers: Record<string, string> = {}): WireAnswer {
  return jsonAnswer(
    stsStatusOf(err.status),
    { error: stsCodeOf(err.code), error_description: err.message },
    { ...retryAfterHeader(err), ...headers },
  );
}
