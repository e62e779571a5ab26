import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
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
import { serveOnLoopback } from '../support/net.js';

/**
 * A fake of Google STS (sts.googleapis.com) and IAM Credentials (iamcredentials.googleapis.com)
 * for Workload Identity Federation with OIDC providers. Like Google, it validates a subject token
 * by fetching the provider's issuer discovery document and JWKS over HTTP, checks issuer,
 * signature (RS256/ES256 only), lifetime (< 48 h), audience and attribute condition, and answers
 * in Google's wire formats and error shapes.
 */

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const SUBJECT_TOKEN_TYPES = [
  'urn:ietf:params:oauth:token-type:jwt',
  'urn:ietf:params:oauth:token-type:id_token',
];

export interface FakeProvider {
  /** `projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV` */
  path: string;
  /** The issuer URL configured on the provider (Google fetches `${issuerUri}/.well-known/openid-configuration`). */
  issuerUri: string;
  /** Default: the provider's resource name with `https://iam.googleapis.com/` or `//iam.googleapis.com/`. */
  allowedAudiences?: string[];
  /** attribute mapping; default `google.subject=assertion.sub` plus namespace and service account. */
  attributeMapping?: (assertion: JWTPayload) => Record<string, string>;
  /**
   * The provider's uploaded keys (`oidc.jwksJson`), read at each exchange: when it returns a
   * string, Google verifies with those keys and fetches nothing from the issuer.
   */
  jwksJson?: () => string | undefined;
  /** CEL stand-in: false → unauthorized_client. */
  attributeCondition?: (assertion: JWTPayload) => boolean;
  disabled?: boolean;
}

export interface FakeServiceAccount {
  email: string;
  /** Members with roles/iam.workloadIdentityUser: `principal://…/subject/SUB`, `principalSet://…/attribute.NAME/VALUE`, `principalSet://…/*`. */
  workloadIdentityUsers: string[];
}

export type FakeEndpoint = 'token' | 'introspect' | 'generateAccessToken' | 'generateIdToken';
export type Fault =
  | { status: number; body?: string; headers?: Record<string, string> }
  | 'hang'
  | 'reset'
  | 'malformed';

export interface FakeGoogleOptions {
  providers?: FakeProvider[];
  serviceAccounts?: FakeServiceAccount[];
  /** Milliseconds every answer waits before it is sent (for coalescing tests). */
  delayMs?: number;
  now?: () => number;
}

interface FederatedToken {
  principal: string;
  attributes: Record<string, string>;
  provider: string;
  scope: string;
  issuedAt: number;
  expiresAt: number;
}

export interface FakeGoogle {
  url: string;
  /** Answered requests per endpoint (faulted ones included). */
  calls: Record<FakeEndpoint, number>;
  /** Form/JSON parameters of each STS token request, subject token removed. */
  tokenRequests: Array<Record<string, string>>;
  /** The claims of each subject token the fake verified (signature, issuer, audience all good). */
  assertions: JWTPayload[];
  providers: FakeProvider[];
  serviceAccounts: FakeServiceAccount[];
  /** The next `count` requests to `endpoint` fail with `fault`. */
  failNext(endpoint: FakeEndpoint, fault: Fault, count?: number): void;
  setDelay(ms: number): void;
  /** Who a live access token this fake issued stands for: `principal://…` or `serviceAccount:EMAIL`. */
  principalOf(accessToken: string): string | undefined;
  /** The public key that verifies ID tokens minted by generateIdToken. */
  idTokenJwks(): Promise<{ keys: object[] }>;
  close(): Promise<void>;
}

const PROVIDER_AUDIENCE =
  /^(?:https:)?\/\/iam\.googleapis\.com\/(projects\/\d+\/locations\/global\/workloadIdentityPools\/[^/]+\/providers\/[^/]+)$/;

export function principalFor(provider: FakeProvider, subject: string): string {
  const pool = provider.path.replace(/\/providers\/[^/]+$/, '');
  return `principal://iam.googleapis.com/${pool}/subject/${subject}`;
}

export async function startFakeGoogle(options: FakeGoogleOptions = {}): Promise<FakeGoogle> {
  const now = options.now ?? Date.now;
  const providers = options.providers ?? [];
  const serviceAccounts = options.serviceAccounts ?? [];
  const federated = new Map<string, FederatedToken>();
  const serviceAccountTokens = new Map<string, { email: string; expiresAt: number }>();
  const calls: Record<FakeEndpoint, number> = {
    token: 0,
    introspect: 0,
    generateAccessToken: 0,
    generateIdToken: 0,
  };
  const faults: Record<FakeEndpoint, Fault[]> = {
    token: [],
    introspect: [],
    generateAccessToken: [],
    generateIdToken: [],
  };
  const tokenRequests: Array<Record<string, string>> = [];
  const assertions: JWTPayload[] = [];
  let delayMs = options.delayMs ?? 0;
  const idTokenKey = await generateKeyPair('RS256');
  const idTokenKid = randomBytes(8).toString('hex');

  const stsError = (c: Context, status: 400 | 401 | 403, error: string, description: string) =>
    c.json({ error, error_description: description }, status);
  const iamError = (c: Context, code: 400 | 401 | 403 | 404, status: string, message: string) =>
    c.json({ error: { code, message, status } }, code);

  /** Applies a pending fault; returns a Response to send instead, or null to answer normally. */
  async function gate(c: Context, endpoint: FakeEndpoint): Promise<Response | null> {
    calls[endpoint]++;
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    const fault = faults[endpoint].shift();
    if (!fault) return null;
    if (fault === 'hang') return new Promise<Response>(() => {});
    if (fault === 'reset') {
      (c.env as { incoming: { socket: { destroy(): void } } }).incoming.socket.destroy();
      return new Promise<Response>(() => {});
    }
    if (fault === 'malformed')
      return new Response('{"access_token": "ya29.tru', {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    return new Response(
      fault.body ?? JSON.stringify({ error: 'fault', error_description: 'injected fault' }),
      { status: fault.status, headers: { 'content-type': 'application/json', ...fault.headers } },
    );
  }

  async function params(c: Context): Promise<Record<string, string>> {
    const type = c.req.header('content-type') ?? '';
    if (type.startsWith('application/json')) {
      const body = (await c.req.json().catch(() => ({}))) as Record<string, unknown>;
      // Google's REST reference spells the fields in camelCase.
      const out: Record<string, string> = {};
      for (const [key, value] of Object.entries(body))
        out[key.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`)] = String(value);
      return out;
    }
    return Object.fromEntries(new URLSearchParams(await c.req.text()));
  }

  async function verifySubjectToken(
    provider: FakeProvider,
    token: string,
  ): Promise<JWTPayload | { error: string; description: string }> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch {
      return { error: 'invalid_grant', description: 'Unable to parse the ID Token.' };
    }
    const uploaded = provider.jwksJson?.();
    let discovery: { issuer?: string; jwks_uri?: string } = {};
    if (uploaded === undefined)
      try {
        const res = await fetch(`${provider.issuerUri}/.well-known/openid-configuration`);
        if (!res.ok) throw new Error(String(res.status));
        discovery = (await res.json()) as typeof discovery;
      } catch {
        return {
          error: 'invalid_grant',
          description: `Error connecting to the given credential's issuer. Unable to fetch the OpenID configuration from ${provider.issuerUri}/.well-known/openid-configuration.`,
        };
      }
    if (uploaded === undefined && discovery.issuer !== provider.issuerUri) {
      return {
        error: 'invalid_grant',
        description: `The issuer in the OpenID configuration [${discovery.issuer}] does not match the provider's issuer [${provider.issuerUri}].`,
      };
    }
    if (claims.iss !== provider.issuerUri) {
      return {
        error: 'invalid_grant',
        description: `The issuer in ID Token [${claims.iss}] does not match the expected issuer [${provider.issuerUri}].`,
      };
    }
    if (header.alg !== 'RS256' && header.alg !== 'ES256') {
      return {
        error: 'invalid_grant',
        description: `The ID Token is signed with an unsupported algorithm [${header.alg}].`,
      };
    }
    let jwks: { keys: object[] };
    try {
      if (uploaded !== undefined) {
        jwks = JSON.parse(uploaded) as typeof jwks;
      } else {
        const res = await fetch(discovery.jwks_uri!);
        if (!res.ok) throw new Error(String(res.status));
        jwks = (await res.json()) as typeof jwks;
      }
    } catch {
      return {
        error: 'invalid_grant',
        description: "Error connecting to the given credential's issuer. Unable to fetch the JWKS.",
      };
    }
    try {
      await jwtVerify(token, createLocalJWKSet(jwks as never), {
        algorithms: ['RS256', 'ES256'],
        currentDate: new Date(now()),
      });
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'JWTExpired')
        return { error: 'invalid_grant', description: 'The ID Token has expired.' };
      if (name === 'JWKSNoMatchingKey')
        return {
          error: 'invalid_grant',
          description: `The ID Token's key [${header.kid}] was not found in the issuer's JWKS.`,
        };
      return { error: 'invalid_grant', description: 'Invalid ID Token signature.' };
    }
    if (
      typeof claims.iat !== 'number' ||
      typeof claims.exp !== 'number' ||
      claims.exp - claims.iat >= 48 * 3600
    ) {
      return {
        error: 'invalid_grant',
        description: 'The lifetime of the ID Token is too long. It must be less than 48 hours.',
      };
    }
    if (claims.iat > now() / 1000 + 60)
      return { error: 'invalid_grant', description: 'The ID Token was issued in the future.' };
    const allowed = provider.allowedAudiences ?? [
      `https://iam.googleapis.com/${provider.path}`,
      `//iam.googleapis.com/${provider.path}`,
    ];
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    if (!audiences.some((aud) => allowed.includes(aud))) {
      return {
        error: 'invalid_grant',
        description: `The audience in ID Token [${audiences.join(',')}] does not match the expected audience.`,
      };
    }
    return claims;
  }

  const app = new Hono();

  app.post('/v1/token', async (c) => {
    const faulted = await gate(c, 'token');
    if (faulted) return faulted;
    const p = await params(c);
    const { subject_token: subjectToken, ...logged } = p;
    tokenRequests.push(logged);
    if (p.grant_type !== TOKEN_EXCHANGE_GRANT)
      return stsError(c, 400, 'invalid_request', 'Invalid value for "grant_type".');
    if (p.requested_token_type !== ACCESS_TOKEN_TYPE)
      return stsError(c, 400, 'invalid_request', 'Invalid value for "requested_token_type".');
    if (!SUBJECT_TOKEN_TYPES.includes(p.subject_token_type ?? ''))
      return stsError(c, 400, 'invalid_request', 'Invalid value for "subject_token_type".');
    if (!subjectToken)
      return stsError(c, 400, 'invalid_request', 'Missing required parameter: "subject_token".');
    const audience = PROVIDER_AUDIENCE.exec(p.audience ?? '');
    if (!audience) {
      return stsError(
        c,
        400,
        'invalid_request',
        'Invalid value for "audience". This value should be the full resource name of the Identity Provider. See https://cloud.google.com/iam/docs/reference/sts/rest/v1/TopLevel/token for the list of possible formats.',
      );
    }
    const provider = providers.find((candidate) => candidate.path === audience[1]);
    if (!provider || provider.disabled) {
      return stsError(
        c,
        400,
        'invalid_target',
        'The target service indicated by the "audience" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn\'t exist.',
      );
    }
    const verified = await verifySubjectToken(provider, subjectToken);
    if ('error' in verified)
      return stsError(c, 400, verified.error as string, verified.description as string);
    assertions.push(verified);
    if (provider.attributeCondition && !provider.attributeCondition(verified)) {
      return stsError(
        c,
        400,
        'unauthorized_client',
        'The given credential is rejected by the attribute condition.',
      );
    }
    const kube = (verified['kubernetes.io'] ?? {}) as {
      namespace?: string;
      serviceaccount?: { name?: string };
    };
    const attributes = provider.attributeMapping?.(verified) ?? {
      'google.subject': String(verified.sub),
      ...(kube.namespace ? { 'attribute.namespace': kube.namespace } : {}),
      ...(kube.serviceaccount?.name
        ? { 'attribute.service_account': kube.serviceaccount.name }
        : {}),
    };
    // Google caps the mapped subject at 127 bytes and refuses the exchange beyond it.
    if (Buffer.byteLength(attributes['google.subject'] ?? String(verified.sub)) > 127)
      return stsError(
        c,
        400,
        'invalid_request',
        'The size of mapped attribute google.subject exceeds the 127 bytes limit. Either modify your attribute mapping or the incoming assertion to produce a mapped attribute that is less than 127 bytes.',
      );
    const accessToken = `ya29.fed.${randomBytes(24).toString('base64url')}`;
    const issuedAt = Math.floor(now() / 1000);
    federated.set(accessToken, {
      principal: principalFor(provider, attributes['google.subject'] ?? String(verified.sub)),
      attributes,
      provider: provider.path,
      scope: p.scope ?? 'https://www.googleapis.com/auth/cloud-platform',
      issuedAt,
      expiresAt: issuedAt + 3600,
    });
    return c.json({
      access_token: accessToken,
      issued_token_type: ACCESS_TOKEN_TYPE,
      token_type: 'Bearer',
      expires_in: 3599,
    });
  });

  app.post('/v1/introspect', async (c) => {
    const faulted = await gate(c, 'introspect');
    if (faulted) return faulted;
    const token = (await params(c)).token;
    const info = token ? federated.get(token) : undefined;
    if (!info || info.expiresAt <= now() / 1000) return c.json({ active: false });
    return c.json({
      active: true,
      client_id: info.provider,
      exp: info.expiresAt,
      iat: info.issuedAt,
      sub: info.principal,
      username: info.principal,
      scope: info.scope,
      iss: 'https://sts.googleapis.com',
      token_type: 'Bearer',
    });
  });

  const iamRoute =
    /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):(generateAccessToken|generateIdToken)$/;
  app.post('*', async (c) => {
    const match = iamRoute.exec(c.req.path);
    if (!match)
      return c.json({ error: { code: 404, message: 'Not Found', status: 'NOT_FOUND' } }, 404);
    const method = match[2] as 'generateAccessToken' | 'generateIdToken';
    const faulted = await gate(c, method);
    if (faulted) return faulted;
    const email = decodeURIComponent(match[1]!);
    const bearer = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1];
    const info = bearer ? federated.get(bearer) : undefined;
    if (!info || info.expiresAt <= now() / 1000) {
      return iamError(
        c,
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      );
    }
    const permission =
      method === 'generateAccessToken'
        ? 'iam.serviceAccounts.getAccessToken'
        : 'iam.serviceAccounts.getOpenIdToken';
    const account = serviceAccounts.find((candidate) => candidate.email === email);
    const pool = `principalSet://iam.googleapis.com/${info.provider.replace(/\/providers\/[^/]+$/, '')}`;
    const allowed = account?.workloadIdentityUsers.some(
      (member) =>
        member === info.principal ||
        member === `${pool}/*` ||
        Object.entries(info.attributes).some(
          ([name, value]) => name.startsWith('attribute.') && member === `${pool}/${name}/${value}`,
        ),
    );
    if (!account || !allowed) {
      return iamError(
        c,
        403,
        'PERMISSION_DENIED',
        `Permission '${permission}' denied on resource (or it may not exist).`,
      );
    }
    const body = (await c.req.json().catch(() => null)) as {
      scope?: string[];
      lifetime?: string;
      audience?: string;
      includeEmail?: boolean;
    } | null;
    if (!body) return iamError(c, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    const issuedAt = Math.floor(now() / 1000);
    if (method === 'generateAccessToken') {
      if (!Array.isArray(body.scope) || body.scope.length === 0)
        return iamError(c, 400, 'INVALID_ARGUMENT', 'Scope required.');
      const lifetime =
        body.lifetime === undefined
          ? 3600
          : Number(/^(\d+)(?:\.\d+)?s$/.exec(body.lifetime)?.[1] ?? NaN);
      if (!Number.isFinite(lifetime) || lifetime < 1 || lifetime > 43_200)
        return iamError(
          c,
          400,
          'INVALID_ARGUMENT',
          'The lifetime must be between 1 and 43200 seconds.',
        );
      const accessToken = `ya29.sa.${randomBytes(24).toString('base64url')}`;
      serviceAccountTokens.set(accessToken, { email, expiresAt: issuedAt + lifetime });
      return c.json({
        accessToken,
        expireTime: new Date((issuedAt + lifetime) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      });
    }
    if (!body.audience) return iamError(c, 400, 'INVALID_ARGUMENT', 'Audience required.');
    const token = await new SignJWT({
      azp: email,
      ...(body.includeEmail ? { email, email_verified: true } : {}),
    })
      .setProtectedHeader({ alg: 'RS256', kid: idTokenKid, typ: 'JWT' })
      .setIssuer('https://accounts.google.com')
      .setAudience(body.audience)
      .setSubject(String(100_000_000_000 + email.length))
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 3600)
      .sign(idTokenKey.privateKey);
    return c.json({ token });
  });

  const server = await serveOnLoopback(app);

  return {
    url: server.url,
    calls,
    tokenRequests,
    assertions,
    providers,
    serviceAccounts,
    failNext(endpoint, fault, count = 1) {
      for (let i = 0; i < count; i++) faults[endpoint].push(fault);
    },
    setDelay(ms) {
      delayMs = ms;
    },
    principalOf(accessToken) {
      const seconds = now() / 1000;
      const fed = federated.get(accessToken);
      if (fed) return fed.expiresAt > seconds ? fed.principal : undefined;
      const sa = serviceAccountTokens.get(accessToken);
      return sa && sa.expiresAt > seconds ? `serviceAccount:${sa.email}` : undefined;
    },
    async idTokenJwks() {
      return {
        keys: [
          { ...(await exportJWK(idTokenKey.publicKey)), kid: idTokenKid, alg: 'RS256', use: 'sig' },
        ],
      };
    },
    close: server.close,
  };
}
