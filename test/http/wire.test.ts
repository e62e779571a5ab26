import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { googleError } from '../../src/broker/google-errors.js';
import { errorStatus, IdbridgeError, type ErrorCode } from '../../src/errors.js';
import { errorResponse } from '../../src/http/errors.js';
import { iamError } from '../../src/http/wire/google-iam.js';
import { stsError } from '../../src/http/wire/google-sts.js';
import { idbridgeAnswer } from '../../src/http/wire/idbridge.js';

const codes = Object.keys(errorStatus) as ErrorCode[];
const GOOGLE_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  pragma: 'no-cache',
};

function refusal(code: ErrorCode, options: { retryAfter?: number } = {}): IdbridgeError {
  return new IdbridgeError(code, `message of ${code}`, [], options);
}

/** Every domain code and what idbridge's JSON wire answers: [status, `error.code`]. */
const IDBRIDGE: Record<ErrorCode, [number, string]> = {
  invalid_request: [400, 'invalid_request'],
  unsupported_grant_type: [400, 'invalid_request'],
  invalid_scope: [400, 'invalid_request'],
  invalid_cluster_id: [400, 'invalid_cluster_id'],
  invalid_jwks: [400, 'invalid_jwks'],
  invalid_discovery: [400, 'invalid_discovery'],
  issuer_mismatch: [400, 'issuer_mismatch'],
  invalid_record: [400, 'invalid_record'],
  unauthenticated: [401, 'unauthenticated'],
  permission_denied: [403, 'permission_denied'],
  provider_not_allowed: [403, 'permission_denied'],
  subject_not_allowed: [403, 'permission_denied'],
  role_not_allowed: [403, 'permission_denied'],
  client_not_allowed: [403, 'permission_denied'],
  cluster_not_found: [404, 'cluster_not_found'],
  not_found: [404, 'not_found'],
  method_not_allowed: [405, 'method_not_allowed'],
  cluster_exists: [409, 'cluster_exists'],
  conflict: [409, 'conflict'],
  precondition_failed: [412, 'precondition_failed'],
  payload_too_large: [413, 'payload_too_large'],
  unsupported_media_type: [415, 'unsupported_media_type'],
  rate_limited: [429, 'rate_limited'],
  internal: [500, 'internal'],
  bad_gateway: [502, 'bad_gateway'],
  store_unavailable: [503, 'store_unavailable'],
  unavailable: [503, 'unavailable'],
  misconfigured: [503, 'store_unavailable'],
  not_ready: [503, 'store_unavailable'],
  gateway_timeout: [504, 'gateway_timeout'],
};

/** Every domain code on Google STS' wire: [status, OAuth `error`]. */
const STS: Record<ErrorCode, [number, string]> = {
  invalid_request: [400, 'invalid_request'],
  unsupported_grant_type: [400, 'unsupported_grant_type'],
  invalid_scope: [400, 'invalid_scope'],
  invalid_cluster_id: [400, 'invalid_request'],
  invalid_jwks: [400, 'invalid_request'],
  invalid_discovery: [400, 'invalid_request'],
  issuer_mismatch: [400, 'invalid_request'],
  invalid_record: [400, 'invalid_request'],
  unauthenticated: [400, 'invalid_grant'],
  permission_denied: [400, 'unauthorized_client'],
  provider_not_allowed: [400, 'invalid_target'],
  subject_not_allowed: [400, 'unauthorized_client'],
  role_not_allowed: [400, 'invalid_target'],
  client_not_allowed: [400, 'invalid_target'],
  cluster_not_found: [404, 'invalid_request'],
  not_found: [404, 'invalid_request'],
  method_not_allowed: [405, 'invalid_request'],
  cluster_exists: [409, 'invalid_request'],
  conflict: [409, 'invalid_request'],
  precondition_failed: [412, 'invalid_request'],
  payload_too_large: [413, 'invalid_request'],
  unsupported_media_type: [415, 'invalid_request'],
  rate_limited: [429, 'temporarily_unavailable'],
  internal: [500, 'server_error'],
  bad_gateway: [502, 'server_error'],
  store_unavailable: [503, 'temporarily_unavailable'],
  unavailable: [503, 'temporarily_unavailable'],
  misconfigured: [503, 'server_error'],
  not_ready: [503, 'temporarily_unavailable'],
  gateway_timeout: [504, 'server_error'],
};

/** Every domain code on Google IAM Credentials' wire: [status, gRPC `status`]. */
const IAM: Record<ErrorCode, [number, string]> = {
  invalid_request: [400, 'INVALID_ARGUMENT'],
  unsupported_grant_type: [400, 'INVALID_ARGUMENT'],
  invalid_scope: [400, 'INVALID_ARGUMENT'],
  invalid_cluster_id: [400, 'INVALID_ARGUMENT'],
  invalid_jwks: [400, 'INVALID_ARGUMENT'],
  invalid_discovery: [400, 'INVALID_ARGUMENT'],
  issuer_mismatch: [400, 'INVALID_ARGUMENT'],
  invalid_record: [400, 'INVALID_ARGUMENT'],
  unauthenticated: [401, 'UNAUTHENTICATED'],
  permission_denied: [403, 'PERMISSION_DENIED'],
  provider_not_allowed: [403, 'PERMISSION_DENIED'],
  subject_not_allowed: [403, 'PERMISSION_DENIED'],
  role_not_allowed: [403, 'PERMISSION_DENIED'],
  client_not_allowed: [403, 'PERMISSION_DENIED'],
  cluster_not_found: [404, 'NOT_FOUND'],
  not_found: [404, 'NOT_FOUND'],
  method_not_allowed: [405, 'UNIMPLEMENTED'],
  cluster_exists: [409, 'ABORTED'],
  conflict: [409, 'ABORTED'],
  precondition_failed: [412, 'FAILED_PRECONDITION'],
  payload_too_large: [413, 'INVALID_ARGUMENT'],
  unsupported_media_type: [415, 'INVALID_ARGUMENT'],
  rate_limited: [429, 'RESOURCE_EXHAUSTED'],
  internal: [500, 'INTERNAL'],
  bad_gateway: [502, 'UNAVAILABLE'],
  store_unavailable: [503, 'UNAVAILABLE'],
  unavailable: [503, 'UNAVAILABLE'],
  misconfigured: [503, 'UNAVAILABLE'],
  not_ready: [503, 'UNAVAILABLE'],
  gateway_timeout: [504, 'DEADLINE_EXCEEDED'],
};

describe('idbridge JSON wire', () => {
  it('has a row for every domain code', () =>
    expect(Object.keys(IDBRIDGE).sort()).toEqual([...codes].sort()));

  it.each(codes)('%s', (code) => {
    const [status, wireCode] = IDBRIDGE[code];
    expect(idbridgeAnswer(refusal(code))).toEqual({
      status,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ error: { code: wireCode, message: `message of ${code}` } }),
    });
    expect(idbridgeAnswer(refusal(code, { retryAfter: 2.5 })).headers).toEqual({
      'content-type': 'application/json',
      'retry-after': '3',
    });
  });

  it('lists details when there are some, and the hono answer is the same answer', async () => {
    const err = new IdbridgeError(
      'invalid_jwks',
      'the JWKS was refused',
      [{ path: 'keys.0.n', message: 'too short' }],
      { retryAfter: 4 },
    );
    const body = {
      error: {
        code: 'invalid_jwks',
        message: 'the JWKS was refused',
        details: [{ path: 'keys.0.n', message: 'too short' }],
      },
    };
    expect(JSON.parse(idbridgeAnswer(err).body)).toEqual(body);
    const res = await new Hono()
      .get('/', (c) => errorResponse(c, err, { 'cache-control': 'no-store' }))
      .request('/');
    expect(res.status).toBe(400);
    expect(Object.fromEntries(res.headers)).toEqual({
      'content-type': 'application/json',
      'retry-after': '4',
      'cache-control': 'no-store',
    });
    expect(await res.json()).toEqual(body);
  });
});

describe('Google STS wire', () => {
  it('has a row for every domain code', () =>
    expect(Object.keys(STS).sort()).toEqual([...codes].sort()));

  it.each(codes)('%s', (code) => {
    const [status, error] = STS[code];
    const expected = {
      status,
      headers: GOOGLE_HEADERS,
      body: JSON.stringify({ error, error_description: `message of ${code}` }),
    };
    expect(stsError(refusal(code))).toEqual(expected);
    expect(googleError('sts', refusal(code))).toEqual(expected);
    expect(stsError(refusal(code, { retryAfter: 7 }), { connection: 'close' }).headers).toEqual({
      ...GOOGLE_HEADERS,
      'retry-after': '7',
      connection: 'close',
    });
  });
});

describe('Google IAM Credentials wire', () => {
  it('has a row for every domain code', () =>
    expect(Object.keys(IAM).sort()).toEqual([...codes].sort()));

  it.each(codes)('%s', (code) => {
    const [status, grpc] = IAM[code];
    const expected = {
      status,
      headers: GOOGLE_HEADERS,
      body: JSON.stringify({
        error: { code: status, message: `message of ${code}`, status: grpc },
      }),
    };
    expect(iamError(refusal(code))).toEqual(expected);
    expect(googleError('iam', refusal(code))).toEqual(expected);
    expect(iamError(refusal(code, { retryAfter: 1 }), { allow: 'POST' }).headers).toEqual({
      ...GOOGLE_HEADERS,
      'retry-after': '1',
      allow: 'POST',
    });
  });
});

describe('error bodies', () => {
  const src = join(import.meta.dirname, '../../src');
  const wire = join(src, 'http/wire');
  /** What building a refusal body by hand looks like: the keys and values only the wire modules write. */
  const HAND_BUILT = [
    /[{,]\s*error_description\s*:/,
    /\berror:\s*\{\s*code\s*:/,
    /\bstatus:\s*'[A-Z_]+'/,
    /\bsts:\s*'/,
  ];

  it('are built only by the wire modules', () => {
    const offenders: string[] = [];
    for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
      const path = join(entry.parentPath, entry.name);
      if (!entry.isFile() || !path.endsWith('.ts') || path.startsWith(`${wire}/`)) continue;
      const text = readFileSync(path, 'utf8');
      for (const pattern of HAND_BUILT)
        if (pattern.test(text)) offenders.push(`${relative(src, path)} ${pattern}`);
    }
    expect(offenders).toEqual([]);
  });
});
