import { z } from 'zod';
import { isServiceAccountEmail } from '../credentials/credential-config.js';
import { jsonTooDeep, TOO_DEEP_MESSAGE } from '../http/json-depth.js';
import { BrokerError } from './google-errors.js';

/**
 * IAM Credentials `:generateAccessToken` / `:generateIdToken` and STS `/v1/introspect` requests:
 * checked for shape and size here, then passed to Google with the caller's own credential
 * (a federated access token), which only Google can judge.
 */
export type IamMethod = 'generateAccessToken' | 'generateIdToken';

export interface IamRequest {
  method: IamMethod;
  /** Service account email or unique id, as in the path. */
  serviceAccount: string;
  /** The caller's `Authorization` header value, passed through unchanged. */
  authorization: string;
  /** The validated body, re-serialized. */
  body: string;
}

export interface IntrospectRequest {
  /** The form body, re-encoded with the known parameters only. */
  body: string;
  token: string;
  authorization?: string;
}

/** Far above a Google access token (about 200 to 2,000 characters), far below harm. */
const MAX_CREDENTIAL_CHARS = 4096;
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;
const UNIQUE_ID = /^\d{1,30}$/;
const delegates = z
  .array(
    z
      .string()
      .max(320)
      .regex(/^projects\/-\/serviceAccounts\/[^/]+$/, 'must be projects/-/serviceAccounts/EMAIL'),
  )
  .max(10)
  .optional();

const accessTokenBody = z.strictObject({
  delegates,
  scope: z
    .array(z.string().min(1).max(512))
    .min(1, 'at least one scope is required, e.g. https://www.googleapis.com/auth/cloud-platform')
    .max(50),
  lifetime: z
    .string()
    .regex(/^\d{1,6}(\.\d{1,9})?s$/, 'must be a duration in seconds such as "3600s"')
    .optional(),
});

const idTokenBody = z.strictObject({
  delegates,
  audience: z.string().min(1).max(2048),
  includeEmail: z.boolean().optional(),
  organizationNumberIncluded: z.boolean().optional(),
});

/** `{email}:{method}`, the last path segment of an IAM Credentials call. */
export function parseIamTarget(
  project: string,
  target: string,
): { serviceAccount: string; method: IamMethod } {
  if (project !== '-') {
    throw new BrokerError(
      'invalid_request',
      'The project in the resource name must be "-": projects/-/serviceAccounts/EMAIL (IAM Credentials infers the project from the account)',
    );
  }
  const colon = target.lastIndexOf(':');
  const method = target.slice(colon + 1);
  if (colon === -1 || (method !== 'generateAccessToken' && method !== 'generateIdToken')) {
    throw new BrokerError(
      'not_found',
      'The broker forwards :generateAccessToken and :generateIdToken of IAM Credentials only',
    );
  }
  let serviceAccount: string;
  try {
    serviceAccount = decodeURIComponent(target.slice(0, colon));
  } catch {
    serviceAccount = '';
  }
  if (!isServiceAccountEmail(serviceAccount) && !UNIQUE_ID.test(serviceAccount)) {
    throw new BrokerError(
      'invalid_request',
      'The service account in the path must be an email NAME@PROJECT.iam.gserviceaccount.com or a numeric unique id',
    );
  }
  return { serviceAccount, method };
}

export function parseIamRequest(
  target: { serviceAccount: string; method: IamMethod },
  authorization: string | undefined,
  contentType: string,
  body: string,
): IamRequest {
  const bearer = authorization?.trim() ?? '';
  if (bearer.length > MAX_CREDENTIAL_CHARS || !BEARER.test(bearer)) {
    throw new BrokerError(
      'unauthenticated',
      'Request is missing a valid "Authorization: Bearer" access token; send the federated token STS returned (Google libraries do this when service_account_impersonation_url is set)',
    );
  }
  if (!/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new BrokerError(
      'unsupported_media_type',
      `Content-Type ${JSON.stringify(contentType.slice(0, 60))} is not accepted; send the request body as application/json`,
    );
  }
  if (jsonTooDeep(body))
    throw new BrokerError('invalid_request', `Invalid JSON payload received: ${TOO_DEEP_MESSAGE}`);
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new BrokerError('invalid_request', 'Invalid JSON payload received; send a JSON object');
  }
  const schema = target.method === 'generateAccessToken' ? accessTokenBody : idTokenBody;
  const parsed = schema.safeParse(withoutNulls(value));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.') || 'body';
    const message =
      issue.code === 'unrecognized_keys'
        ? `Invalid JSON payload received. Unknown name ${JSON.stringify(String(issue.keys[0]).slice(0, 40))}`
        : `Invalid value for "${where}": ${issue.message}`;
    throw new BrokerError('invalid_request', message);
  }
  return { ...target, authorization: bearer, body: JSON.stringify(parsed.data) };
}

/** In Google's JSON mapping a null field is an absent one; gcloud sends `"delegates": null`. */
function withoutNulls(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== null));
}

export function parseIntrospectRequest(
  authorization: string | undefined,
  contentType: string,
  body: string,
): IntrospectRequest {
  if (authorization !== undefined && authorization.length > MAX_CREDENTIAL_CHARS) {
    throw new BrokerError(
      'invalid_request',
      'The Authorization header is too long; introspection takes Basic client credentials at most',
    );
  }
  if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(contentType)) {
    throw new BrokerError(
      'unsupported_media_type',
      `Content-Type ${JSON.stringify(contentType.slice(0, 60))} is not accepted; send token=… as application/x-www-form-urlencoded`,
    );
  }
  const form = new URLSearchParams(body);
  const token = form.get('token');
  if (!token) throw new BrokerError('invalid_request', 'Missing required parameter: "token"');
  if (token.length > MAX_CREDENTIAL_CHARS)
    throw new BrokerError(
      'invalid_request',
      'Invalid value for "token": it is longer than any Google access token',
    );
  const hint = form.get('token_type_hint');
  if (hint !== null && hint.length > 256)
    throw new BrokerError('invalid_request', 'Invalid value for "token_type_hint"');
  const forwarded = new URLSearchParams({
    token,
    ...(hint !== null ? { token_type_hint: hint } : {}),
  });
  return {
    body: forwarded.toString(),
    token,
    ...(authorization !== undefined ? { authorization } : {}),
  };
}
