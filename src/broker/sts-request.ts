import { z } from 'zod';
import { parseProvider, type WorkloadIdentityProvider } from '../credentials/credential-config.js';
import { IdbridgeError } from '../errors.js';
import { jsonTooDeep, TOO_DEEP_MESSAGE } from '../http/json-depth.js';
import { MAX_TOKEN_BYTES } from '../verify/subject-token.js';
import { BrokerError } from './google-errors.js';
import { describeIssues, zodDetails } from '../errors/zod.js';

/**
 * Google STS `POST /v1/token` (RFC 8693 token exchange) as the Google libraries send it
 * (form-encoded, snake_case) and as Google's REST reference spells it (JSON, camelCase).
 */
export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
/** What a Kubernetes ServiceAccount token is, in RFC 8693 terms (gcloud writes `jwt`). */
export const SUBJECT_TOKEN_TYPES = [
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:id_token',
] as const;

/** Form name → JSON name of every parameter the endpoint takes. */
const PARAMETERS = {
  grant_type: 'grantType',
  audience: 'audience',
  scope: 'scope',
  requested_token_type: 'requestedTokenType',
  subject_token: 'subjectToken',
  subject_token_type: 'subjectTokenType',
  options: 'options',
} as const;
type Parameter = keyof typeof PARAMETERS;
const BY_JSON_NAME = new Map<string, Parameter>(
  Object.entries(PARAMETERS).flatMap(([form, json]) => [
    [form, form as Parameter],
    [json, form as Parameter],
  ]),
);
/** Client authentication in the body (RFC 6749 §2.3.1): the broker has no clients, like its Basic header. */
const IGNORED = new Set(['client_id', 'client_secret', 'clientId', 'clientSecret']);
const PARAMETER_LIST = Object.keys(PARAMETERS).join(', ');

const MAX_SCOPES = 50;
const MAX_OPTIONS_CHARS = 4096;
/** Google: "The size of the parameter value should not exceed 2048 characters." */
const MAX_ACCESS_BOUNDARY_CHARS = 2048;

export interface StsTokenRequest {
  /** `//iam.googleapis.com/projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV` */
  audience: string;
  provider: WorkloadIdentityProvider;
  /** Space-separated OAuth scopes, normalized; absent when the client sent none. */
  scope?: string;
  subjectToken: string;
  subjectTokenType: (typeof SUBJECT_TOKEN_TYPES)[number];
  /** The `options` JSON object, re-serialized after validation. */
  options?: string;
}

const parametersSchema = z.object({
  grant_type: z.string().max(256),
  audience: z.string().max(512),
  scope: z.string().max(4096).optional(),
  requested_token_type: z.string().max(256),
  subject_token: z
    .string()
    .min(1)
    .max(
      MAX_TOKEN_BYTES,
      `subject_token is larger than ${MAX_TOKEN_BYTES / 1024} KiB; a projected ServiceAccount token is about 1 KiB`,
    ),
  subject_token_type: z.string().max(256),
  options: z.string().max(MAX_OPTIONS_CHARS).optional(),
});

const optionsSchema = z.strictObject({
  userProject: z
    .string()
    .max(32)
    .regex(/^[a-z0-9][-a-z0-9.:]*$/, 'must be a project id or number')
    .optional(),
  accessBoundary: z.record(z.string(), z.unknown()).optional(),
});

/** Parses and validates a token request; every refusal says which parameter to fix. */
export function parseStsTokenRequest(contentType: string, body: string): StsTokenRequest {
  const raw = readParameters(contentType, body);
  const parsed = parametersSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? 'body');
    const message =
      raw[name] === undefined
        ? `Missing required parameter: "${name}"`
        : `Invalid value for "${name}": ${issue.message}`;
    throw new BrokerError('invalid_request', message);
  }
  const p = parsed.data;
  if (p.grant_type !== TOKEN_EXCHANGE_GRANT) {
    throw new BrokerError(
      'unsupported_grant_type',
      `Invalid value for "grant_type": the broker performs token exchange only; send grant_type=${TOKEN_EXCHANGE_GRANT}`,
    );
  }
  if (p.requested_token_type !== ACCESS_TOKEN_TYPE) {
    throw new BrokerError(
      'invalid_request',
      `Invalid value for "requested_token_type": Google STS issues access tokens only; send ${ACCESS_TOKEN_TYPE}`,
    );
  }
  const subjectTokenType = SUBJECT_TOKEN_TYPES.find((type) => type === p.subject_token_type);
  if (!subjectTokenType) {
    throw new BrokerError(
      'invalid_request',
      `Invalid value for "subject_token_type": the broker exchanges Kubernetes ServiceAccount tokens; send ${SUBJECT_TOKEN_TYPES[0]} (credential_source.format "text")`,
    );
  }
  return {
    audience: p.audience,
    provider: parseAudience(p.audience),
    ...(p.scope !== undefined ? { scope: parseScope(p.scope) } : {}),
    subjectToken: p.subject_token,
    subjectTokenType,
    ...(p.options !== undefined ? { options: parseOptions(p.options) } : {}),
  };
}

/** The request as Google's own libraries would send it upstream. */
export function upstreamTokenForm(request: StsTokenRequest): string {
  const form = new URLSearchParams({
    grant_type: TOKEN_EXCHANGE_GRANT,
    audience: request.audience,
    ...(request.scope !== undefined ? { scope: request.scope } : {}),
    requested_token_type: ACCESS_TOKEN_TYPE,
    subject_token: request.subjectToken,
    subject_token_type: request.subjectTokenType,
    ...(request.options !== undefined ? { options: request.options } : {}),
  });
  return form.toString();
}

/** Form fields or a JSON object, as snake_case names with string values. */
function readParameters(contentType: string, body: string): Record<string, string> {
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  const out: Record<string, string> = {};
  const put = (spelled: string, value: string) => {
    if (IGNORED.has(spelled)) return;
    const key = BY_JSON_NAME.get(spelled);
    if (key === undefined || (type === 'application/x-www-form-urlencoded' && key !== spelled)) {
      throw new BrokerError(
        'invalid_request',
        `Unknown parameter ${JSON.stringify(spelled.slice(0, 40))}; the token endpoint takes ${PARAMETER_LIST}`,
      );
    }
    if (out[key] !== undefined)
      throw new BrokerError(
        'invalid_request',
        `Parameter "${key}" is given more than once; send it once`,
      );
    out[key] = value;
  };
  if (type === 'application/x-www-form-urlencoded') {
    for (const [name, value] of new URLSearchParams(body)) put(name, value);
    return out;
  }
  if (type === 'application/json') {
    if (jsonTooDeep(body))
      throw new BrokerError(
        'invalid_request',
        `The JSON body is refused: ${TOO_DEEP_MESSAGE}; send the parameters as one flat JSON object`,
      );
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch {
      throw new BrokerError(
        'invalid_request',
        'The body is not valid JSON; send the parameters form-encoded or as a JSON object',
      );
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw new BrokerError('invalid_request', 'The JSON body must be an object of parameters');
    for (const [name, field] of Object.entries(value)) {
      // Google's REST reference sends options as a serialized object; an object is taken too.
      const text =
        typeof field === 'string'
          ? field
          : BY_JSON_NAME.get(name) === 'options' && typeof field === 'object' && field !== null
            ? JSON.stringify(field)
            : undefined;
      if (text === undefined && !IGNORED.has(name))
        throw new BrokerError(
          'invalid_request',
          `Invalid value for ${JSON.stringify(name.slice(0, 40))}: must be a string`,
        );
      put(name, text ?? '');
    }
    return out;
  }
  throw new BrokerError(
    'unsupported_media_type',
    `Content-Type ${JSON.stringify(contentType.slice(0, 60))} is not accepted; send application/x-www-form-urlencoded (what Google's libraries send) or application/json`,
  );
}

function parseAudience(audience: string): WorkloadIdentityProvider {
  let provider: WorkloadIdentityProvider;
  try {
    provider = parseProvider(audience);
  } catch (err) {
    const hint = err instanceof IdbridgeError ? ` ${err.message}` : '';
    throw new BrokerError(
      'invalid_request',
      `Invalid value for "audience": it must be the full resource name of the workload identity provider, //iam.googleapis.com/projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV.${hint}`,
    );
  }
  if (audience !== provider.audience) {
    throw new BrokerError(
      'invalid_request',
      `Invalid value for "audience": write it as ${provider.audience} (the credential configuration's "audience")`,
    );
  }
  return provider;
}

function parseScope(scope: string): string {
  const scopes = scope.split(/[ ,]+/).filter((s) => s !== '');
  if (
    scopes.length > MAX_SCOPES ||
    scopes.some((s) => s.length > 512 || !/^[\x21-\x7e]+$/.test(s))
  ) {
    throw new BrokerError(
      'invalid_scope',
      `Invalid value for "scope": at most ${MAX_SCOPES} space-separated OAuth scopes such as https://www.googleapis.com/auth/cloud-platform`,
    );
  }
  return scopes.join(' ');
}

/**
 * `options` is a JSON object; some clients URL-encode it once more before form-encoding the
 * body, so a value that is not JSON yet is decoded (at most twice) before it is parsed.
 */
export function parseOptions(raw: string): string {
  let text = raw.trim();
  for (let round = 0; round < 2 && !text.startsWith('{') && /%[0-9A-Fa-f]{2}/.test(text); round++) {
    try {
      text = decodeURIComponent(text).trim();
    } catch {
      break;
    }
  }
  if (jsonTooDeep(text))
    throw new BrokerError('invalid_request', `Invalid value for "options": ${TOO_DEEP_MESSAGE}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BrokerError(
      'invalid_request',
      'Invalid value for "options": it must be a JSON object such as {"userProject":"my-project"}',
    );
  }
  const parsed = optionsSchema.safeParse(value);
  if (!parsed.success) {
    throw new BrokerError(
      'invalid_request',
      `Invalid value for "options": ${describeIssues(zodDetails(parsed.error, { root: 'options', limit: 1 }))}; the broker passes userProject and accessBoundary`,
    );
  }
  if (
    parsed.data.accessBoundary !== undefined &&
    JSON.stringify(parsed.data.accessBoundary).length > MAX_ACCESS_BOUNDARY_CHARS
  ) {
    throw new BrokerError(
      'invalid_request',
      `Invalid value for "options": accessBoundary is larger than ${MAX_ACCESS_BOUNDARY_CHARS} characters`,
    );
  }
  return JSON.stringify(parsed.data);
}
