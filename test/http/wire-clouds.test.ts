import { XMLParser } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { googleError } from '../../src/broker/google-errors.js';
import { errorStatus, IdbridgeError, type ErrorCode } from '../../src/errors.js';
import { awsStsError } from '../../src/http/wire/aws-sts.js';
import { entraError } from '../../src/http/wire/entra.js';
import { TokenError } from '../../src/verify/subject-token.js';

const codes = Object.keys(errorStatus) as ErrorCode[];
const refusal = (code: ErrorCode, options: { retryAfter?: number } = {}) =>
  new IdbridgeError(code, `message of ${code} <&>`, [], options);
const xml = new XMLParser({ parseTagValue: false });

/** Every domain code on AWS STS' wire: [status, `Code`]. */
const AWS: Record<ErrorCode, [number, string]> = {
  invalid_request: [400, 'ValidationError'],
  unsupported_grant_type: [400, 'InvalidAction'],
  invalid_scope: [400, 'ValidationError'],
  invalid_cluster_id: [400, 'ValidationError'],
  invalid_jwks: [400, 'ValidationError'],
  invalid_discovery: [400, 'ValidationError'],
  issuer_mismatch: [400, 'ValidationError'],
  invalid_record: [400, 'ValidationError'],
  unauthenticated: [400, 'InvalidIdentityToken'],
  permission_denied: [403, 'AccessDenied'],
  provider_not_allowed: [403, 'AccessDenied'],
  subject_not_allowed: [403, 'AccessDenied'],
  role_not_allowed: [403, 'AccessDenied'],
  client_not_allowed: [403, 'AccessDenied'],
  cluster_not_found: [404, 'ValidationError'],
  not_found: [404, 'ValidationError'],
  method_not_allowed: [405, 'ValidationError'],
  cluster_exists: [409, 'ValidationError'],
  conflict: [409, 'ValidationError'],
  precondition_failed: [412, 'ValidationError'],
  payload_too_large: [413, 'ValidationError'],
  unsupported_media_type: [415, 'ValidationError'],
  rate_limited: [400, 'Throttling'],
  internal: [500, 'InternalFailure'],
  bad_gateway: [503, 'ServiceUnavailable'],
  store_unavailable: [400, 'IDPCommunicationError'],
  unavailable: [503, 'ServiceUnavailable'],
  misconfigured: [503, 'ServiceUnavailable'],
  not_ready: [400, 'IDPCommunicationError'],
  gateway_timeout: [503, 'ServiceUnavailable'],
};

/** Every domain code on Entra ID's wire: [status, `error`, AADSTS]. */
const ENTRA: Record<ErrorCode, [number, string, number]> = {
  invalid_request: [400, 'invalid_request', 900144],
  unsupported_grant_type: [400, 'unsupported_grant_type', 70003],
  invalid_scope: [400, 'invalid_scope', 70011],
  invalid_cluster_id: [400, 'invalid_request', 900144],
  invalid_jwks: [400, 'invalid_request', 900144],
  invalid_discovery: [400, 'invalid_request', 900144],
  issuer_mismatch: [400, 'invalid_request', 900144],
  invalid_record: [400, 'invalid_request', 900144],
  unauthenticated: [400, 'invalid_request', 700211],
  permission_denied: [400, 'unauthorized_client', 700016],
  provider_not_allowed: [400, 'unauthorized_client', 700016],
  subject_not_allowed: [400, 'invalid_request', 700213],
  role_not_allowed: [400, 'unauthorized_client', 700016],
  client_not_allowed: [400, 'unauthorized_client', 700016],
  cluster_not_found: [404, 'invalid_request', 900144],
  not_found: [404, 'invalid_request', 900144],
  method_not_allowed: [405, 'invalid_request', 900144],
  cluster_exists: [409, 'invalid_request', 900144],
  conflict: [409, 'invalid_request', 900144],
  precondition_failed: [412, 'invalid_request', 900144],
  payload_too_large: [413, 'invalid_request', 900144],
  unsupported_media_type: [415, 'invalid_request', 900144],
  rate_limited: [429, 'temporarily_unavailable', 50196],
  internal: [500, 'server_error', 90033],
  bad_gateway: [502, 'server_error', 90033],
  store_unavailable: [503, 'temporarily_unavailable', 90033],
  unavailable: [503, 'temporarily_unavailable', 90033],
  misconfigured: [503, 'server_error', 90033],
  not_ready: [503, 'temporarily_unavailable', 90033],
  gateway_timeout: [504, 'server_error', 90033],
};

describe('AWS STS wire', () => {
  it('has a row for every domain code', () =>
    expect(Object.keys(AWS).sort()).toEqual([...codes].sort()));

  it.each(codes)('%s', (code) => {
    const [status, awsCode] = AWS[code];
    const answer = awsStsError(refusal(code, { retryAfter: 2 }), {}, 'req-1');
    expect(answer.status).toBe(status);
    expect(answer.headers).toMatchObject({
      'content-type': 'text/xml',
      'x-amzn-requestid': 'req-1',
      'retry-after': '2',
      'cache-control': 'no-store',
    });
    expect(xml.parse(answer.body)).toEqual({
      ErrorResponse: {
        Error: {
          Type: status >= 500 ? 'Receiver' : 'Sender',
          Code: awsCode,
          Message: `message of ${code} <&>`,
        },
        RequestId: 'req-1',
      },
    });
    // The message is escaped: the document stays one ErrorResponse whatever it says.
    expect(answer.body).toContain('&lt;&amp;&gt;');
    expect(googleError('aws-sts', refusal(code)).status).toBe(status);
  });

  it('answers an expired token with ExpiredTokenException, any other token refusal with InvalidIdentityToken', () => {
    const code = (err: IdbridgeError) =>
      (xml.parse(awsStsError(err).body) as { ErrorResponse: { Error: { Code: string } } })
        .ErrorResponse.Error.Code;
    expect(code(new TokenError('expired', 'expired'))).toBe('ExpiredTokenException');
    expect(code(new TokenError('bad_signature', 'bad'))).toBe('InvalidIdentityToken');
  });
});

describe('Entra ID wire', () => {
  it('has a row for every domain code', () =>
    expect(Object.keys(ENTRA).sort()).toEqual([...codes].sort()));

  it.each(codes)('%s', (code) => {
    const [status, error, aadsts] = ENTRA[code];
    const now = new Date('2026-12-01T21:00:00.123Z');
    const answer = entraError(
      refusal(code, { retryAfter: 3 }),
      {},
      { traceId: 't', correlationId: 'c', now },
    );
    expect(answer.status).toBe(status);
    expect(answer.headers).toMatchObject({ 'retry-after': '3', 'cache-control': 'no-store' });
    expect(JSON.parse(answer.body)).toEqual({
      error,
      error_description: `AADSTS${aadsts}: message of ${code} <&>\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2026-12-01 21:00:00Z`,
      error_codes: [aadsts],
      timestamp: '2026-12-01 21:00:00Z',
      trace_id: 't',
      correlation_id: 'c',
      error_uri: `https://login.microsoftonline.com/error?code=${aadsts}`,
    });
    expect(googleError('entra', refusal(code)).status).toBe(status);
  });

  it.each([
    ['expired', 'invalid_client', 700024],
    ['wrong_audience', 'invalid_request', 700212],
    ['bad_signature', 'invalid_client', 50013],
    ['malformed', 'invalid_request', 50027],
  ] as const)('answers the token failure %s as Entra does', (failure, error, aadsts) => {
    expect(JSON.parse(entraError(new TokenError(failure, 'x')).body)).toMatchObject({
      error,
      error_codes: [aadsts],
    });
  });
});
