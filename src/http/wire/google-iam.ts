import type { IdbridgeError } from '../../errors.js';
import { retryAfterHeader, type WireAnswer } from './answer.js';
import { jsonAnswer } from './google-json.js';

/** gRPC status names as Google's JSON APIs spell them, by the HTTP status of the domain code. */
const IAM_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'UNIMPLEMENTED',
  409: 'ABORTED',
  412: 'FAILED_PRECONDITION',
  413: 'INVALID_ARGUMENT',
  415: 'INVALID_ARGUMENT',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function iamStatusOf(status: number): string {
  return IAM_STATUS[status] ?? 'UNKNOWN';
}

/** A refusal on Google IAM Credentials' wire: `{"error":{"code","message","status"}}`, no-store. */
export function iamError(err: IdbridgeError, headers: Record<string, string> = {}): WireAnswer {
  return jsonAnswer(
    err.status,
    { error: { code: err.status, message: err.message, status: iamStatusOf(err.status) } },
    { ...retryAfterHeader(err), ...headers },
  );
}
