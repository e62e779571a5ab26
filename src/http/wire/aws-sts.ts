import { XMLBuilder } from 'fast-xml-parser';
import type { ErrorCode, IdbridgeError } from '../../errors.js';
import { retryAfterHeader, type WireAnswer } from './answer.js';
import { NO_STORE } from './google-json.js';

/** The namespace of every STS Query API document (API version 2011-06-15). */
export const AWS_STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

/** Error codes as AWS STS answers them (AssumeRoleWithWebIdentity and the Query API's common errors). */
export type AwsStsErrorCode =
  | 'InvalidIdentityToken'
  | 'ExpiredTokenException'
  | 'IDPCommunicationError'
  | 'AccessDenied'
  | 'ValidationError'
  | 'InvalidAction'
  | 'Throttling'
  | 'ServiceUnavailable'
  | 'InternalFailure';

/** The AWS code and HTTP status of each domain code; any other is a 400 `ValidationError`. */
const AWS_CODES: Partial<Record<ErrorCode, [AwsStsErrorCode, number]>> = {
  unauthenticated: ['InvalidIdentityToken', 400],
  permission_denied: ['AccessDenied', 403],
  subject_not_allowed: ['AccessDenied', 403],
  provider_not_allowed: ['AccessDenied', 403],
  role_not_allowed: ['AccessDenied', 403],
  client_not_allowed: ['AccessDenied', 403],
  // The Action is the Query API's grant: any other is InvalidAction.
  unsupported_grant_type: ['InvalidAction', 400],
  // STS throttles with 400 Throttling; the SDKs retry it with backoff.
  rate_limited: ['Throttling', 400],
  // The cluster's keys cannot be read: the IdP cannot be reached, which the SDKs retry.
  store_unavailable: ['IDPCommunicationError', 400],
  not_ready: ['IDPCommunicationError', 400],
  unavailable: ['ServiceUnavailable', 503],
  misconfigured: ['ServiceUnavailable', 503],
  bad_gateway: ['ServiceUnavailable', 503],
  gateway_timeout: ['ServiceUnavailable', 503],
  internal: ['InternalFailure', 500],
};

/** The AWS code of a refusal; a token refusal for an expired token is `ExpiredTokenException`. */
export function awsCodeOf(err: IdbridgeError): [AwsStsErrorCode, number] {
  // A token refusal names its failure (TokenError.failure); only expiry has its own AWS code.
  if (err.code === 'unauthenticated' && (err as { failure?: unknown }).failure === 'expired')
    return ['ExpiredTokenException', 400];
  const mapped = AWS_CODES[err.code];
  if (mapped) return mapped;
  // Body and method refusals keep their HTTP status (413, 415, 405) with AWS's code for bad input.
  return ['ValidationError', err.status >= 400 && err.status < 500 ? err.status : 400];
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@_' });

/** An STS Query API document: the XML declaration-free body AWS sends, text escaped by the builder. */
export function awsXml(root: string, content: Record<string, unknown>): string {
  return builder.build({ [root]: { '@_xmlns': AWS_STS_NAMESPACE, ...content } }) as string;
}

export const AWS_XML_HEADERS = { 'content-type': 'text/xml', ...NO_STORE } as const;

/**
 * A refusal on AWS STS' wire: `<ErrorResponse><Error><Type><Code><Message></Error><RequestId>`,
 * `Type` `Sender` for the caller's faults and `Receiver` for the service's, with the request id
 * also in `x-amzn-RequestId` as AWS sends it.
 */
export function awsStsError(
  err: IdbridgeError,
  headers: Record<string, string> = {},
  requestId: string = crypto.randomUUID(),
): WireAnswer {
  const [code, status] = awsCodeOf(err);
  return {
    status,
    headers: {
      ...AWS_XML_HEADERS,
      'x-amzn-requestid': requestId,
      ...retryAfterHeader(err),
      ...headers,
    },
    body: awsXml('ErrorResponse', {
      Error: { Type: status >= 500 ? 'Receiver' : 'Sender', Code: code, Message: err.message },
      RequestId: requestId,
    }),
  };
}
