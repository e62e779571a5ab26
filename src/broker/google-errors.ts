import { IdbridgeError, type ErrorCode } from '../errors.js';
import type { WireAnswer } from '../http/wire/answer.js';
import { awsStsError } from '../http/wire/aws-sts.js';
import { entraError } from '../http/wire/entra.js';
import { iamError } from '../http/wire/google-iam.js';
import { stsCodeOf, stsError, type StsErrorCode } from '../http/wire/google-sts.js';

/**
 * Google's two error shapes, so SDK and gcloud messages stay meaningful behind the broker:
 * STS answers `{"error","error_description"}` with OAuth codes (RFC 6749/8693), IAM Credentials
 * `{"error":{"code","message","status"}}` with gRPC status names. The mappings live in
 * src/http/wire/google-sts.ts and google-iam.ts; this module keeps the broker's names for them.
 */
export { toResponse } from '../http/wire/answer.js';
export { jsonAnswer, NO_STORE } from '../http/wire/google-json.js';
export { stsCodeOf, type StsErrorCode } from '../http/wire/google-sts.js';

/** A refusal of the broker: an idbridge error thrown with a domain code. */
export class BrokerError extends IdbridgeError {
  constructor(
    code: ErrorCode,
    message: string,
    options: { retryAfter?: number; cause?: unknown } = {},
  ) {
    super(code, message, [], options);
  }

  /** The OAuth code it answers with on STS, as google-sts.ts maps its domain code. */
  get sts(): StsErrorCode {
    return stsCodeOf(this.code);
  }
}

/** The wire of a broker endpoint: Google STS, Google IAM Credentials, AWS STS or Entra ID. */
export type ErrorShape = 'sts' | 'iam' | 'aws-sts' | 'entra';

/** The one mapping of each broker wire (src/http/wire/). */
const WIRES: Record<
  ErrorShape,
  (err: IdbridgeError, headers: Record<string, string>) => WireAnswer
> = { sts: stsError, iam: iamError, 'aws-sts': awsStsError, entra: entraError };

/** What the broker answers, before any host turns it into its own response type. */
export type BrokerAnswer = WireAnswer;

export function googleError(
  shape: ErrorShape,
  err: IdbridgeError,
  headers: Record<string, string> = {},
): BrokerAnswer {
  return WIRES[shape](err, headers);
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
    return {
      ...(typeof status === 'string' ? { code: status } : {}),
      message: typeof message === 'string' ? message : 'no message',
    };
  }
  return { message: 'an answer without an error message' };
}
