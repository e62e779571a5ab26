import { randomUUID } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
  generateKeyPair,
  jwtVerify,
  SignJWT,
  type JWTPayload,
} from 'jose';
import { fetchJson } from './issuer-fetch.js';

/**
 * A fake of Microsoft Entra ID's v2.0 endpoints for workload identity federation. Like Entra, it
 * serves tenant discovery and the token endpoint; a client credentials request with a federated
 * client assertion is validated by fetching the assertion issuer's discovery document and JWKS
 * over HTTPS, checking the signature, the time range, and issuer, subject and audience against
 * the app's federated identity credentials; answers and refusals are Entra's JSON shapes with
 * AADSTS codes. It listens on HTTPS (MSAL requires it) and on plain HTTP (for the broker's hop).
 */

export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange';

export interface FakeFederatedCredential {
  issuer: string;
  subject: string;
  audiences?: string[];
}

export interface FakeEntraApp {
  clientId: string;
  tenantId: string;
  federatedCredentials: FakeFederatedCredential[];
}

export interface FakeEntraOptions {
  tenants?: Array<{ id: string; domains?: string[] }>;
  apps?: FakeEntraApp[];
  /** The serving certificate (PEM) of the HTTPS listener and its key. */
  tls: { cert: string; key: string };
  /** The CA the fake trusts when it fetches assertion issuers' documents. */
  ca?: string;
  now?: () => number;
}

export interface FakeEntra {
  /** The HTTPS listener (what AZURE_AUTHORITY_HOST names). */
  url: string;
  /** The same service on plain HTTP (the broker's upstream in tests). */
  httpUrl: string;
  calls: { token: number; discovery: number; instanceDiscovery: number };
  /** Form parameters of each token request, the assertion removed. */
  requests: Array<Record<string, string>>;
  apps: FakeEntraApp[];
  /** Verifies an access token this fake issued (for the tests' own checks). */
  verifyAccessToken(token: string): Promise<JWTPayload>;
  close(): Promise<void>;
}

class EntraFault extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startFakeEntra(options: FakeEntraOptions): Promise<FakeEntra> {
  const now = options.now ?? Date.now;
  const tenants = options.tenants ?? [];
  const apps = options.apps ?? [];
  const calls = { token: 0, discovery: 0, instanceDiscovery: 0 };
  const requests: Array<Record<string, string>> = [];
  const signing = await generateKeyPair('RS256');
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(signing.publicKey)), kid, alg: 'RS256', use: 'sig' };

  const tenantOf = (name: string) =>
    tenants.find((t) => t.id === name.toLowerCase() || t.domains?.includes(name.toLowerCase()));

  function json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store, no-cache',
    });
    res.end(JSON.stringify(body));
  }

  function fail(res: ServerResponse, fault: EntraFault, correlationId: string): void {
    const traceId = randomUUID();
    const timestamp = new Date(now())
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d{3}Z$/, 'Z');
    json(res, fault.status, {
      error: fault.error,
      error_description: `AADSTS${fault.aadsts}: ${fault.message} Trace ID: ${traceId} Correlation ID: ${correlationId} Timestamp: ${timestamp}`,
      error_codes: [fault.aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${fault.aadsts}`,
    });
  }

  async function verifyAssertion(assertion: string, app: FakeEntraApp): Promise<JWTPayload> {
    let claims: JWTPayload;
    try {
      decodeProtectedHeader(assertion);
      claims = decodeJwt(assertion);
    } catch {
      throw new EntraFault(400, 'invalid_request', 50027, 'JWT token is invalid or malformed.');
    }
    const issuer = String(claims.iss ?? '');
    const byIssuer = app.federatedCredentials.filter((f) => f.issuer === issuer);
    if (byIssuer.length === 0)
      throw new EntraFault(
        400,
        'invalid_request',
        700211,
        `No matching federated identity record found for presented assertion issuer '${issuer.slice(0, 200)}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      );
    let jwks: unknown;
    try {
      const discovery = (await fetchJson(
        `${issuer}/.well-known/openid-configuration`,
        options.ca,
      )) as { issuer?: unknown; jwks_uri?: unknown };
      if (discovery.issuer !== issuer || typeof discovery.jwks_uri !== 'string')
        throw new Error('issuer');
      jwks = await fetchJson(discovery.jwks_uri, options.ca);
    } catch {
      throw new EntraFault(
        400,
        'invalid_client',
        50166,
        `Request to External OIDC endpoint failed: the discovery document or keys of issuer '${issuer.slice(0, 200)}' could not be fetched.`,
      );
    }
    try {
      await jwtVerify(assertion, createLocalJWKSet(jwks as never), {
        currentDate: new Date(now()),
      });
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'JWTExpired' || name === 'JWTClaimValidationFailed')
        throw new EntraFault(
          400,
          'invalid_client',
          700024,
          `Client assertion is not within its valid time range. Current time: ${new Date(now()).toISOString()}, assertion valid from ${new Date(Number(claims.nbf ?? claims.iat) * 1000).toISOString()}, expiry time of assertion ${new Date(Number(claims.exp) * 1000).toISOString()}.`,
        );
      throw new EntraFault(400, 'invalid_client', 50013, 'Assertion failed signature validation.');
    }
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    const byAudience = byIssuer.filter((f) =>
      (f.audiences ?? [TOKEN_EXCHANGE_AUDIENCE]).some((aud) => audiences.includes(aud)),
    );
    if (byAudience.length === 0)
      throw new EntraFault(
        400,
        'invalid_request',
        700212,
        `No matching federated identity record found for presented assertion audience '${audiences.join(',').slice(0, 200)}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      );
    if (!byAudience.some((f) => f.subject === claims.sub))
      throw new EntraFault(
        400,
        'invalid_request',
        700213,
        `No matching federated identity record found for presented assertion subject '${String(claims.sub).slice(0, 200)}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
      );
    return claims;
  }

  async function token(tenantName: string, form: URLSearchParams, res: ServerResponse) {
    calls.token++;
    const logged = Object.fromEntries(form);
    delete logged.client_assertion;
    requests.push(logged);
    const tenant = tenantOf(tenantName);
    if (!tenant)
      throw new EntraFault(
        400,
        'invalid_request',
        90002,
        `Tenant '${tenantName}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      );
    for (const name of ['grant_type', 'client_id', 'scope'])
      if (!form.get(name))
        throw new EntraFault(
          400,
          'invalid_request',
          900144,
          `The request body must contain the following parameter: '${name}'.`,
        );
    if (form.get('grant_type') !== 'client_credentials')
      throw new EntraFault(
        400,
        'unsupported_grant_type',
        70003,
        'The app requested an unsupported grant type.',
      );
    const clientId = form.get('client_id')!;
    const app = apps.find((a) => a.clientId === clientId && a.tenantId === tenant.id);
    if (!app)
      throw new EntraFault(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${tenant.id}'.`,
      );
    if (
      form.get('client_assertion_type') !==
        'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' ||
      !form.get('client_assertion')
    )
      throw new EntraFault(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    const scope = form.get('scope')!;
    const resource = scope.split(' ').find((s) => s.endsWith('/.default'));
    if (!resource || scope.split(' ').length !== 1)
      throw new EntraFault(
        400,
        'invalid_scope',
        1002012,
        `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
      );
    const claims = await verifyAssertion(form.get('client_assertion')!, app);
    const issuedAt = Math.floor(now() / 1000);
    const accessToken = await new SignJWT({
      aud: resource.slice(0, -'/.default'.length),
      iss: `https://sts.windows.net/${tenant.id}/`,
      appid: app.clientId,
      tid: tenant.id,
      sub: randomUUID(),
      idp: String(claims.iss),
      federated_subject: String(claims.sub),
      iat: issuedAt,
      nbf: issuedAt,
      exp: issuedAt + 3600,
    })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .sign(signing.privateKey);
    json(res, 200, {
      token_type: 'Bearer',
      expires_in: 3599,
      ext_expires_in: 3599,
      access_token: accessToken,
    });
  }

  function discovery(base: string, tenantName: string, res: ServerResponse): void {
    calls.discovery++;
    const tenant = tenantOf(tenantName);
    if (!tenant) {
      json(res, 400, {
        error: 'invalid_tenant',
        error_description: `AADSTS90002: Tenant '${tenantName}' not found.`,
        error_codes: [90002],
      });
      return;
    }
    const here = `${base}/${tenant.id}`;
    json(res, 200, {
      token_endpoint: `${here}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: [
        'client_secret_post',
        'private_key_jwt',
        'client_secret_basic',
      ],
      jwks_uri: `${base}/${tenant.id}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/${tenant.id}/v2.0`,
      authorization_endpoint: `${here}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${here}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${here}/oauth2/v2.0/logout`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      cloud_instance_name: 'microsoftonline.com',
    });
  }

  const handler = (scheme: 'https' | 'http') => (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const base = `${scheme}://${req.headers.host}`;
      const correlationId = String(req.headers['client-request-id'] ?? randomUUID());
      void (async () => {
        try {
          const tokenPath = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(url.pathname);
          if (req.method === 'POST' && tokenPath)
            return await token(
              decodeURIComponent(tokenPath[1]!),
              new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
              res,
            );
          const discoveryPath = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(
            url.pathname,
          );
          if (req.method === 'GET' && discoveryPath)
            return discovery(base, decodeURIComponent(discoveryPath[1]!), res);
          const keys = /^\/([^/]+)\/discovery\/v2\.0\/keys$/.exec(url.pathname);
          if (req.method === 'GET' && keys) return json(res, 200, { keys: [publicJwk] });
          if (url.pathname === '/common/discovery/instance') {
            calls.instanceDiscovery++;
            return json(res, 200, {
              tenant_discovery_endpoint: `${base}/${url.searchParams.get('authorization_endpoint')?.split('/')[3] ?? 'common'}/v2.0/.well-known/openid-configuration`,
              'api-version': '1.1',
              metadata: [],
            });
          }
          json(res, 404, { error: 'not_found' });
        } catch (err) {
          if (err instanceof EntraFault) fail(res, err, correlationId);
          else
            fail(
              res,
              new EntraFault(
                500,
                'server_error',
                90033,
                'A transient error has occurred. Please try again.',
              ),
              correlationId,
            );
        }
      })();
    });
  };

  const secure = createHttpsServer(
    { cert: options.tls.cert, key: options.tls.key },
    handler('https'),
  );
  const plain = createHttpServer(handler('http'));
  await Promise.all(
    [secure, plain].map(
      (server) => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)),
    ),
  );
  const port = (server: { address(): AddressInfo | string | null }) =>
    (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port(secure)}`,
    httpUrl: `http://127.0.0.1:${port(plain)}`,
    calls,
    requests,
    apps,
    async verifyAccessToken(accessToken) {
      const { payload } = await jwtVerify(accessToken, createLocalJWKSet({ keys: [publicJwk] }), {
        currentDate: new Date(now()),
      });
      return payload;
    },
    close: async () => {
      await Promise.all(
        [secure, plain].map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };
}
