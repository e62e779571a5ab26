import { MAX_TOKEN_BYTES } from '../verify/subject-token.js';
import { BrokerError } from './google-errors.js';

/**
 * Microsoft Entra ID's v2.0 token endpoint as MSAL calls it for workload identity: the client
 * credentials grant with a federated client assertion (the ServiceAccount token), form-encoded.
 */
export const CLIENT_CREDENTIALS_GRANT = 'client_credentials';
export const JWT_BEARER_ASSERTION = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface EntraTokenRequest {
  tenant: string;
  /** The application (client) id, lowercase. */
  clientId: string;
  /** Space-separated scopes, normalized. */
  scope: string;
  clientAssertion: string;
  /** A claims challenge (JSON), passed on when the client sends one. */
  claims?: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A verified domain of a tenant: a DNS name with at least two labels. */
const DOMAIN =
  /^(?=.{4,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/i;
const MULTI_TENANT = new Set(['common', 'organizations', 'consumers']);
const MAX_SCOPES = 20;
const MAX_CLAIMS_CHARS = 4096;
const PARAMETERS = new Set([
  'client_id',
  'scope',
  'grant_type',
  'client_assertion_type',
  'client_assertion',
  'claims',
]);
/** What MSAL adds to every request (client info, telemetry, correlation): read by nobody here. */
const IGNORED = new Set(['client_info', 'client-request-id']);

/** A tenant as the path names it: a GUID or one of its domains (lowercased), else AADSTS90002. */
export function parseTenant(raw: string): string {
  let tenant: string;
  try {
    tenant = decodeURIComponent(raw);
  } catch {
    tenant = raw;
  }
  if (MULTI_TENANT.has(tenant.toLowerCase()))
    throw new BrokerError(
      'invalid_request',
      `Tenant '${tenant}' is not a tenant: the client credentials grant needs the tenant's id (a GUID) or one of its domains; set AZURE_TENANT_ID`,
    );
  if (!GUID.test(tenant) && !DOMAIN.test(tenant))
    throw new BrokerError(
      'invalid_request',
      `Tenant '${tenant.slice(0, 80)}' not found: a tenant is named by its id (a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47) or a domain such as contoso.onmicrosoft.com; check AZURE_TENANT_ID`,
    );
  return tenant.toLowerCase();
}

/** Parses and validates a token request; every refusal says which parameter to fix. */
export function parseEntraTokenRequest(
  rawTenant: string,
  contentType: string,
  body: string,
): EntraTokenRequest {
  const tenant = parseTenant(rawTenant);
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded')
    throw new BrokerError(
      'unsupported_media_type',
      `Content-Type ${JSON.stringify(contentType.slice(0, 60))} is not accepted; the token endpoint takes application/x-www-form-urlencoded (what MSAL sends)`,
    );
  const fields: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(body)) {
    if (IGNORED.has(name) || name.startsWith('x-')) continue;
    if (!PARAMETERS.has(name))
      throw new BrokerError(
        'invalid_request',
        `The request body contains the unknown parameter ${JSON.stringify(name.slice(0, 40))}; the token endpoint takes ${[...PARAMETERS].join(', ')}`,
      );
    if (fields[name] !== undefined)
      throw new BrokerError(
        'invalid_request',
        `The request body contains the parameter '${name}' more than once; send it once`,
      );
    fields[name] = value;
  }
  const required = (name: string, max: number): string => {
    const value = fields[name];
    if (value === undefined || value === '')
      throw new BrokerError(
        'invalid_request',
        `The request body must contain the following parameter: '${name}'.`,
      );
    if (value.length > max)
      throw new BrokerError(
        'invalid_request',
        `The value of the parameter '${name}' is longer than ${max} characters`,
      );
    return value;
  };
  const grantType = required('grant_type', 64);
  if (grantType !== CLIENT_CREDENTIALS_GRANT)
    throw new BrokerError(
      'unsupported_grant_type',
      `The app requested an unsupported grant type '${grantType.slice(0, 40)}': this broker exchanges federated client assertions only; send grant_type=${CLIENT_CREDENTIALS_GRANT}`,
    );
  const clientId = required('client_id', 64);
  if (!GUID.test(clientId))
    throw new BrokerError(
      'invalid_request',
      `Client id '${clientId.slice(0, 64)}' is not a GUID: set AZURE_CLIENT_ID (azure.workload.identity/client-id) to the application (client) id of the app or managed identity`,
    );
  const assertionType = required('client_assertion_type', 128);
  if (assertionType !== JWT_BEARER_ASSERTION)
    throw new BrokerError(
      'invalid_request',
      `Invalid value for 'client_assertion_type': send ${JWT_BEARER_ASSERTION} with the ServiceAccount token as client_assertion`,
    );
  const clientAssertion = required('client_assertion', MAX_TOKEN_BYTES);
  const scope = parseScope(required('scope', 4096));
  const claims = fields.claims;
  if (claims !== undefined) checkClaims(claims);
  return {
    tenant,
    clientId: clientId.toLowerCase(),
    scope,
    clientAssertion,
    ...(claims !== undefined ? { claims } : {}),
  };
}

/** The request as MSAL sends it, for the upstream token endpoint. */
export function upstreamEntraForm(request: EntraTokenRequest): string {
  return new URLSearchParams({
    client_id: request.clientId,
    scope: request.scope,
    grant_type: CLIENT_CREDENTIALS_GRANT,
    client_assertion_type: JWT_BEARER_ASSERTION,
    client_assertion: request.clientAssertion,
    ...(request.claims !== undefined ? { claims: request.claims } : {}),
  }).toString();
}

function parseScope(scope: string): string {
  const scopes = scope.split(' ').filter((s) => s !== '');
  if (
    scopes.length === 0 ||
    scopes.length > MAX_SCOPES ||
    scopes.some((s) => s.length > 512 || !/^[\x21-\x7e]+$/.test(s))
  )
    throw new BrokerError(
      'invalid_scope',
      `The provided value for the input parameter 'scope' is not valid: at most ${MAX_SCOPES} space-separated scopes such as https://management.azure.com/.default`,
    );
  return scopes.join(' ');
}

function checkClaims(claims: string): void {
  let value: unknown;
  try {
    value = claims.length <= MAX_CLAIMS_CHARS ? JSON.parse(claims) : undefined;
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new BrokerError(
      'invalid_request',
      `The 'claims' parameter must be a JSON object of at most ${MAX_CLAIMS_CHARS} characters (a claims challenge from a resource)`,
    );
}
