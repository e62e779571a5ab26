import { IdbridgeError, type ErrorCode } from '../errors.js';

/**
 * Google's two error shapes, so SDK and gcloud messages stay meaningful behind the broker:
 * STS answers `{"error","error_description"}` with OAuth codes (RFC 6749/8693), IAM Credentials
 * `{"error":{"code","message","status"}}` with gRPC status names.
 */
export type StsErrorCode =
  | 'invalid_request'
  | 'invalid_grant'
  | 'invalid_target'
  | 'invalid_scope'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'temporarily_unavailable'
  | 'server_error';

/** The OAuth code of each idbridge refusal, unless the error names its own. */
const STS_CODES: Partial<Record<ErrorCode, StsErrorCode>> = {
  unauthenticated: 'invalid_grant',
  permission_denied: 'unauthorized_client',
  rate_limited: 'temporarily_unavailable',
  unavailable: 'temporarily_unavailable',
  store_unavailable: 'temporarily_unavailable',
  internal: 'server_error',
  bad_gateway: 'server_error',
  gateway_timeout: 'server_error',
};

/** gRPC status names as Google's JSON APIs spell them, by HTTP status. */
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

/** A refusal of the broker: an idbridge error with the OAuth code and headers it answers with. */
export class BrokerError extends IdbridgeError {
  readonly sts: StsErrorCode;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: { sts?: StsErrorCode; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(code, message, [], options.cause === undefined ? undefined : { cause: options.cause });
    this.sts = options.sts ?? stsCodeOf(code);
    this.headers = options.headers ?? {};
  }
}

export function stsCodeOf(code: ErrorCode): StsErrorCode {
  return STS_CODES[code] ?? 'invalid_request';
}

/** Token answers and refusals must not be stored by anything in between (RFC 6749 §5.1). */
export const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' } as const;

export type ErrorShape = 'sts' | 'iam';

/** What the broker answers, before any host turns it into its own response type. */
export interface BrokerAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export function toResponse(answer: BrokerAnswer): Response {
  return new Response(answer.body, { status: answer.status, headers: answer.headers });
}

export function jsonAnswer(status: number, body: unknown, headers: Record<string, string> = {}): BrokerAnswer {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...NO_STORE, ...headers }, body: JSON.stringify(body) };
}

export function googleError(shape: ErrorShape, err: IdbridgeError, headers: Record<string, string> = {}): BrokerAnswer {
  // OAuth answers every refusal of a grant with 400 (RFC 6749 §5.2); IAM keeps 401 and 403.
  const status = shape === 'sts' && (err.status === 401 || err.status === 403) ? 400 : err.status;
  const body = shape === 'sts'
    ? { error: err instanceof BrokerError ? err.sts : stsCodeOf(err.code), error_description: err.message }
    : { error: { code: status, message: err.message, status: IAM_STATUS[status] ?? 'UNKNOWN' } };
  return jsonAnswer(status, body, { ...(err instanceof BrokerError ? err.headers : {}), ...headers });
}

/** Google's error answer read back (STS or IAM Credentials shape), for callers of Google that explain it. */
export interface GoogleErrorReading {
  /** The OAuth code (STS) or gRPC status name (IAM Credentials), when Google gave one. */
  code?: string;
  message: string;
}

export function readGoogleError(body: Record<string, unknown>): GoogleErrorReading {
  const error = body.error;
  if (typeof error === 'string') {
    const description = typeof body.error_description === 'string' ? body.error_description : '';
    return { code: error, message: description || error };
  }
  if (typeof error === 'object' && error !== null) {
    const { message, status } = error as { message?: unknown; status?: unknown };
    return { ...(typeof status === 'string' ? { code: status } : {}), message: typeof message === 'string' ? message : 'no message' };
  }
  return { message: 'an answer without an error message' };
}
