import type { ErrorCode, IdbridgeError } from '../../errors.js';
import { retryAfterHeader, type WireAnswer } from './answer.js';
import { jsonAnswer } from './google-json.js';

/** OAuth error codes as Microsoft Entra ID's v2.0 token endpoint answers them. */
export type EntraErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'invalid_scope'
  | 'temporarily_unavailable'
  | 'server_error';

interface EntraMapping {
  error: EntraErrorCode;
  /** The AADSTS number Entra ID gives the same refusal. */
  aadsts: number;
  status: number;
}

/** The Entra answer of each domain code; any other is `invalid_request` AADSTS900144 with its own status. */
const ENTRA_CODES: Partial<Record<ErrorCode, EntraMapping>> = {
  // AADSTS700211: no federated identity record for the assertion's issuer.
  unauthenticated: { error: 'invalid_request', aadsts: 700211, status: 400 },
  // AADSTS700213: no federated identity record for the assertion's subject.
  subject_not_allowed: { error: 'invalid_request', aadsts: 700213, status: 400 },
  permission_denied: { error: 'unauthorized_client', aadsts: 700016, status: 400 },
  provider_not_allowed: { error: 'unauthorized_client', aadsts: 700016, status: 400 },
  role_not_allowed: { error: 'unauthorized_client', aadsts: 700016, status: 400 },
  // AADSTS700016: application not found in the directory (not one this cluster may use).
  client_not_allowed: { error: 'unauthorized_client', aadsts: 700016, status: 400 },
  unsupported_grant_type: { error: 'unsupported_grant_type', aadsts: 70003, status: 400 },
  invalid_scope: { error: 'invalid_scope', aadsts: 70011, status: 400 },
  rate_limited: { error: 'temporarily_unavailable', aadsts: 50196, status: 429 },
  unavailable: { error: 'temporarily_unavailable', aadsts: 90033, status: 503 },
  store_unavailable: { error: 'temporarily_unavailable', aadsts: 90033, status: 503 },
  not_ready: { error: 'temporarily_unavailable', aadsts: 90033, status: 503 },
  misconfigured: { error: 'server_error', aadsts: 90033, status: 503 },
  bad_gateway: { error: 'server_error', aadsts: 90033, status: 502 },
  gateway_timeout: { error: 'server_error', aadsts: 90033, status: 504 },
  internal: { error: 'server_error', aadsts: 90033, status: 500 },
};

/** Token refusals by failure (TokenError.failure): the AADSTS code Entra gives the same assertion. */
const TOKEN_FAILURES: Readonly<Record<string, EntraMapping>> = {
  // AADSTS700024: client assertion is not within its valid time range.
  expired: { error: 'invalid_client', aadsts: 700024, status: 400 },
  not_yet_valid: { error: 'invalid_client', aadsts: 700024, status: 400 },
  issued_in_future: { error: 'invalid_client', aadsts: 700024, status: 400 },
  lifetime_too_long: { error: 'invalid_client', aadsts: 700024, status: 400 },
  // AADSTS700212: no federated identity record for the assertion's audience.
  wrong_audience: { error: 'invalid_request', aadsts: 700212, status: 400 },
  wrong_issuer: { error: 'invalid_request', aadsts: 700211, status: 400 },
  wrong_subject: { error: 'invalid_request', aadsts: 700213, status: 400 },
  // AADSTS50013: assertion failed signature validation.
  bad_signature: { error: 'invalid_client', aadsts: 50013, status: 400 },
  unknown_key: { error: 'invalid_client', aadsts: 50013, status: 400 },
  unsupported_algorithm: { error: 'invalid_client', aadsts: 50013, status: 400 },
  critical_header: { error: 'invalid_client', aadsts: 50013, status: 400 },
  // AADSTS50027: JWT token is invalid or malformed.
  malformed: { error: 'invalid_request', aadsts: 50027, status: 400 },
  too_large: { error: 'invalid_request', aadsts: 50027, status: 400 },
};

export function entraMappingOf(err: IdbridgeError): EntraMapping {
  const failure = (err as { failure?: unknown }).failure;
  if (err.code === 'unauthenticated' && typeof failure === 'string' && TOKEN_FAILURES[failure])
    return TOKEN_FAILURES[failure];
  return (
    ENTRA_CODES[err.code] ?? {
      error: 'invalid_request',
      aadsts: 900144,
      status: err.status >= 400 && err.status < 500 ? err.status : 400,
    }
  );
}

/**
 * A refusal on Entra ID's wire: `{"error","error_description","error_codes","timestamp",
 * "trace_id","correlation_id","error_uri"}`, the description starting `AADSTS<n>: ` and ending
 * with the trace id, correlation id and timestamp lines, as Entra writes it; both ids are fresh
 * unless `ids` gives them.
 */
export function entraError(
  err: IdbridgeError,
  headers: Record<string, string> = {},
  ids: { traceId?: string; correlationId?: string; now?: Date } = {},
): WireAnswer {
  const { error, aadsts, status } = entraMappingOf(err);
  const traceId = ids.traceId ?? crypto.randomUUID();
  const correlationId = ids.correlationId ?? crypto.randomUUID();
  // Entra writes `2026-12-01 21:00:00Z`: ISO 8601 with a space and whole seconds.
  const timestamp = (ids.now ?? new Date())
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z');
  return jsonAnswer(
    status,
    {
      error,
      error_description: `AADSTS${aadsts}: ${err.message}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
      error_codes: [aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${aadsts}`,
    },
    { ...retryAfterHeader(err), ...headers },
  );
}
