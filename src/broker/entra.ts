import { jsonAnswer } from '../http/wire/google-json.js';
import type { BrokerCall } from './broker.js';
import type { CloudExchange } from './cloud-exchange.js';
import { parseEntraTokenRequest, parseTenant, upstreamEntraForm } from './entra-request.js';
import type { BrokerAnswer } from './google-errors.js';
import { checkClientId, cloudAudiences } from './policy.js';

/**
 * Entra ID's token endpoint through the broker: the client assertion verified like a Google
 * subject token, the client id checked against the cluster's `clientIds`, the exact request sent
 * to the configured authority host, its answer relayed and cached until shortly before expiry.
 */
export function entraTokenExchange(
  tenant: string,
  call: BrokerCall,
  authorityUrl: string,
): CloudExchange {
  const request = parseEntraTokenRequest(tenant, call.contentType, call.body);
  return {
    subjectToken: request.clientAssertion,
    audiences: (record) => cloudAudiences(record, 'azure'),
    checkTarget: (record) => checkClientId(record, request.clientId),
    audit: { tenant: request.tenant, clientId: request.clientId },
    key: [request.tenant, request.clientId, request.scope, request.claims ?? ''],
    upstream: {
      endpoint: 'entraToken',
      url: `${authorityUrl}/${encodeURIComponent(request.tenant)}/oauth2/v2.0/token`,
      contentType: 'application/x-www-form-urlencoded;charset=utf-8',
      body: upstreamEntraForm(request),
    },
    expiresAt: (answer, now) => {
      const { access_token: accessToken, expires_in: expiresIn } = answer.json;
      const seconds = typeof expiresIn === 'string' ? Number(expiresIn) : expiresIn;
      return typeof accessToken === 'string' && typeof seconds === 'number' && seconds > 0
        ? now + Math.floor(seconds)
        : null;
    },
    fromCache: (cached, expiresAt, now) => {
      const answer = JSON.parse(cached.body) as Record<string, unknown>;
      const left = expiresAt - now;
      // The lifetime left, as Entra would answer a new request for the same token.
      return jsonAnswer(200, {
        ...answer,
        expires_in: left,
        ...(answer.ext_expires_in !== undefined ? { ext_expires_in: left } : {}),
      });
    },
  };
}

/**
 * `GET /azure/{tenant}/v2.0/.well-known/openid-configuration`: the tenant discovery MSAL reads
 * before its first token request. Its endpoints point back at this broker (`brokerUrl`), so the
 * token request comes here, and so does `issuer` (MSAL refuses an issuer on another origin unless
 * it is a Microsoft host); `jwks_uri` is the upstream authority's, whose tokens these are.
 */
export function entraDiscovery(
  rawTenant: string,
  brokerUrl: string,
  authorityUrl: string,
): BrokerAnswer {
  const tenant = parseTenant(rawTenant);
  const here = `${brokerUrl}/azure/${tenant}`;
  const upstream = `${authorityUrl}/${tenant}`;
  const answer = jsonAnswer(200, {
    token_endpoint: `${here}/oauth2/v2.0/token`,
    token_endpoint_auth_methods_supported: [
      'client_secret_post',
      'private_key_jwt',
      'client_secret_basic',
    ],
    jwks_uri: `${upstream}/discovery/v2.0/keys`,
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    // MSAL accepts an issuer on the authority's own origin or a Microsoft host: this broker's.
    issuer: `${here}/v2.0`,
    request_uri_parameter_supported: false,
    authorization_endpoint: `${here}/oauth2/v2.0/authorize`,
    device_authorization_endpoint: `${here}/oauth2/v2.0/devicecode`,
    end_session_endpoint: `${here}/oauth2/v2.0/logout`,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    tenant_region_scope: null,
    cloud_instance_name: 'microsoftonline.com',
  });
  // The same for every caller and no secret: clients may keep it a day, as Entra's own allows.
  return {
    ...answer,
    headers: { 'content-type': answer.headers['content-type']!, 'cache-control': 'max-age=86400' },
  };
}
