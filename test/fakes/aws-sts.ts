import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import { fetchJson } from './issuer-fetch.js';

/**
 * A fake of AWS STS (sts.amazonaws.com) for IRSA-style web identity federation. Like STS, it
 * validates a web identity token against an IAM OIDC identity provider by fetching the issuer's
 * discovery document and JWKS over HTTPS, checks signature (RS/ES 256/384/512), expiry, the
 * audience against the provider's client ids and `sub`/`aud` against the role's trust policy, and
 * answers the Query API's XML (`AssumeRoleWithWebIdentityResponse`, `<ErrorResponse>`). It also
 * answers `GetCallerIdentity`, verifying the SigV4 signature made with the credentials it issued.
 */

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512'];

export interface FakeOidcProvider {
  /** The issuer URL, https:// required as IAM does. */
  issuer: string;
  /** The provider's client id list (audiences). */
  clientIds: string[];
}

export interface FakeRole {
  arn: string;
  /** The trust policy: the federated provider (its issuer) and `ISSUER:sub` StringLike patterns. */
  issuer: string;
  subjects: string[];
  /** `ISSUER:aud` StringEquals; default the provider's client ids. */
  audience?: string;
}

export interface FakeAwsStsOptions {
  providers?: FakeOidcProvider[];
  roles?: FakeRole[];
  /** The CA the fake trusts when it fetches issuer documents (the loopback test CA). */
  ca?: string;
  now?: () => number;
  /** Accept http:// issuers (IAM does not); for tests of the fake alone. */
  allowHttpIssuers?: boolean;
}

export interface FakeAwsSts {
  url: string;
  calls: { assumeRoleWithWebIdentity: number; getCallerIdentity: number; other: number };
  /** Parameters of each AssumeRoleWithWebIdentity request, the token removed. */
  requests: Array<Record<string, string>>;
  providers: FakeOidcProvider[];
  roles: FakeRole[];
  /** Credentials issued, by access key id. */
  issued: Map<string, IssuedCredentials>;
  close(): Promise<void>;
}

interface IssuedCredentials {
  secretAccessKey: string;
  sessionToken: string;
  roleArn: string;
  sessionName: string;
  roleId: string;
  expiresAt: number;
}

class StsFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function xmlError(res: ServerResponse, fault: StsFault): void {
  const requestId = randomUUID();
  res.writeHead(fault.status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
  res.end(
    `<ErrorResponse xmlns="${NS}">\n  <Error>\n    <Type>${fault.status >= 500 ? 'Receiver' : 'Sender'}</Type>\n    <Code>${fault.code}</Code>\n    <Message>${escapeXml(fault.message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`,
  );
}

function xmlAnswer(res: ServerResponse, action: string, result: string): void {
  const requestId = randomUUID();
  res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId });
  res.end(
    `<${action}Response xmlns="${NS}">\n  <${action}Result>\n${result}  </${action}Result>\n  <ResponseMetadata>\n    <RequestId>${requestId}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`,
  );
}

/** IAM's StringLike: `*` any run of characters, `?` one character. */
function stringLike(value: string, pattern: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(value);
}

function accountOf(arn: string): string {
  return arn.split(':')[4] ?? '000000000000';
}

export async function startFakeAwsSts(options: FakeAwsStsOptions = {}): Promise<FakeAwsSts> {
  const now = options.now ?? Date.now;
  const providers = options.providers ?? [];
  const roles = options.roles ?? [];
  const issued = new Map<string, IssuedCredentials>();
  const requests: Array<Record<string, string>> = [];
  const calls = { assumeRoleWithWebIdentity: 0, getCallerIdentity: 0, other: 0 };

  async function verifyWebIdentity(token: string): Promise<JWTPayload> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      claims = decodeJwt(token);
    } catch {
      throw new StsFault(
        400,
        'InvalidIdentityToken',
        'The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)',
      );
    }
    const issuer = String(claims.iss ?? '');
    const provider = providers.find((p) => p.issuer === issuer);
    if (!provider)
      throw new StsFault(
        400,
        'InvalidIdentityToken',
        `No OpenIDConnect provider found in your account for ${issuer.slice(0, 200)}`,
      );
    if (!issuer.startsWith('https://') && !options.allowHttpIssuers)
      throw new StsFault(400, 'InvalidIdentityToken', 'The issuer of the token must use https');
    let jwks: unknown;
    try {
      const discovery = (await fetchJson(
        `${issuer}/.well-known/openid-configuration`,
        options.ca,
      )) as {
        issuer?: unknown;
        jwks_uri?: unknown;
      };
      if (discovery.issuer !== issuer || typeof discovery.jwks_uri !== 'string')
        throw new Error('issuer mismatch');
      jwks = await fetchJson(discovery.jwks_uri, options.ca);
    } catch {
      throw new StsFault(
        400,
        'IDPCommunicationError',
        "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
      );
    }
    if (!ALGORITHMS.includes(String(header.alg)))
      throw new StsFault(
        400,
        'InvalidIdentityToken',
        `Unsupported signing algorithm ${String(header.alg)}`,
      );
    try {
      await jwtVerify(token, createLocalJWKSet(jwks as never), {
        algorithms: ALGORITHMS,
        currentDate: new Date(now()),
      });
    } catch (err) {
      if ((err as Error).name === 'JWTExpired')
        throw new StsFault(
          400,
          'ExpiredTokenException',
          `Token expired: current date/time ${Math.floor(now() / 1000)} must be before the expiration date/time ${String(claims.exp)}`,
        );
      throw new StsFault(400, 'InvalidIdentityToken', 'Invalid token signature or claims');
    }
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    if (!audiences.some((aud) => provider.clientIds.includes(aud)))
      throw new StsFault(400, 'InvalidIdentityToken', 'Incorrect token audience');
    return claims;
  }

  async function assumeRole(form: URLSearchParams, res: ServerResponse): Promise<void> {
    calls.assumeRoleWithWebIdentity++;
    const logged = Object.fromEntries(form);
    delete logged.WebIdentityToken;
    requests.push(logged);
    const roleArn = form.get('RoleArn');
    const sessionName = form.get('RoleSessionName');
    const token = form.get('WebIdentityToken');
    for (const [name, value] of [
      ['roleArn', roleArn],
      ['roleSessionName', sessionName],
      ['webIdentityToken', token],
    ] as const)
      if (!value)
        throw new StsFault(
          400,
          'ValidationError',
          `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
        );
    const duration = Number(form.get('DurationSeconds') ?? 3600);
    if (!Number.isInteger(duration) || duration < 900 || duration > 43_200)
      throw new StsFault(
        400,
        'ValidationError',
        `1 validation error detected: Value '${duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200`,
      );
    const claims = await verifyWebIdentity(token!);
    const role = roles.find((r) => r.arn === roleArn);
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    const provider = providers.find((p) => p.issuer === claims.iss)!;
    if (
      !role ||
      role.issuer !== claims.iss ||
      !role.subjects.some((pattern) => stringLike(String(claims.sub), pattern)) ||
      !audiences.includes(role.audience ?? provider.clientIds[0]!)
    )
      throw new StsFault(
        403,
        'AccessDenied',
        'Not authorized to perform sts:AssumeRoleWithWebIdentity',
      );
    const accessKeyId = `ASIA${randomBytes(10).toString('hex').toUpperCase().slice(0, 16)}`;
    const roleId = `AROA${randomBytes(8).toString('hex').toUpperCase()}`;
    const credentials: IssuedCredentials = {
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(96).toString('base64')}`,
      roleArn: role.arn,
      sessionName: sessionName!,
      roleId,
      expiresAt: Math.floor(now() / 1000) + duration,
    };
    issued.set(accessKeyId, credentials);
    const roleName = role.arn.slice(role.arn.lastIndexOf('/') + 1);
    xmlAnswer(
      res,
      'AssumeRoleWithWebIdentity',
      `    <Audience>${escapeXml(audiences[0]!)}</Audience>\n    <AssumedRoleUser>\n      <AssumedRoleId>${roleId}:${escapeXml(sessionName!)}</AssumedRoleId>\n      <Arn>arn:aws:sts::${accountOf(role.arn)}:assumed-role/${escapeXml(roleName)}/${escapeXml(sessionName!)}</Arn>\n    </AssumedRoleUser>\n    <Provider>${escapeXml(String(claims.iss).replace(/^https?:\/\//, ''))}</Provider>\n    <Credentials>\n      <AccessKeyId>${accessKeyId}</AccessKeyId>\n      <SecretAccessKey>${credentials.secretAccessKey}</SecretAccessKey>\n      <SessionToken>${credentials.sessionToken}</SessionToken>\n      <Expiration>${new Date(credentials.expiresAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')}</Expiration>\n    </Credentials>\n    <SubjectFromWebIdentityToken>${escapeXml(String(claims.sub))}</SubjectFromWebIdentityToken>\n`,
    );
  }

  /** SigV4 (AWS4-HMAC-SHA256) verification of a request signed with credentials issued here. */
  function verifySignature(req: IncomingMessage, body: Buffer): IssuedCredentials {
    const authorization = req.headers.authorization ?? '';
    const match =
      /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
        authorization,
      );
    if (!match)
      throw new StsFault(
        403,
        'MissingAuthenticationToken',
        'Request is missing Authentication Token',
      );
    const [, accessKeyId, date, region, service, signedHeaders, signature] =
      match as unknown as string[];
    const credentials = issued.get(accessKeyId!);
    if (!credentials)
      throw new StsFault(
        403,
        'InvalidClientTokenId',
        'The security token included in the request is invalid.',
      );
    if (req.headers['x-amz-security-token'] !== credentials.sessionToken)
      throw new StsFault(
        403,
        'InvalidClientTokenId',
        'The security token included in the request is invalid.',
      );
    if (credentials.expiresAt * 1000 <= now())
      throw new StsFault(
        400,
        'ExpiredToken',
        'The security token included in the request is expired',
      );
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const url = new URL(req.url ?? '/', 'http://x');
    const query = [...url.searchParams]
      .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)])
      .sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
    const headerNames = signedHeaders!.split(';');
    const canonicalHeaders = headerNames
      .map((name) => {
        const value = req.headers[name];
        return `${name}:${(Array.isArray(value) ? value.join(',') : (value ?? '')).trim().replace(/\s+/g, ' ')}\n`;
      })
      .join('');
    const payloadHash = createHash('sha256').update(body).digest('hex');
    const canonicalRequest = [
      req.method,
      url.pathname,
      query,
      canonicalHeaders,
      signedHeaders,
      payloadHash,
    ].join('\n');
    const scope = `${date}/${region}/${service}/aws4_request`;
    const stringToSign = [
      'AWS4-HMAC-SHA256',
      amzDate,
      scope,
      createHash('sha256').update(canonicalRequest).digest('hex'),
    ].join('\n');
    let key: Buffer = createHmac('sha256', `AWS4${credentials.secretAccessKey}`)
      .update(date!)
      .digest();
    for (const part of [region!, service!, 'aws4_request'])
      key = createHmac('sha256', key).update(part).digest();
    const expected = createHmac('sha256', key).update(stringToSign).digest();
    if (
      !headerNames.includes('host') ||
      !amzDate.startsWith(date!) ||
      !timingSafeEqual(expected, Buffer.from(signature!, 'hex'))
    )
      throw new StsFault(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    return credentials;
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      void (async () => {
        try {
          if (req.method !== 'POST')
            throw new StsFault(400, 'InvalidAction', 'The STS Query API takes POST here');
          const form = new URLSearchParams(body.toString('utf8'));
          const action = form.get('Action');
          if (action === 'AssumeRoleWithWebIdentity') return await assumeRole(form, res);
          if (action === 'GetCallerIdentity') {
            calls.getCallerIdentity++;
            const credentials = verifySignature(req, body);
            xmlAnswer(
              res,
              'GetCallerIdentity',
              `    <Arn>arn:aws:sts::${accountOf(credentials.roleArn)}:assumed-role/${escapeXml(credentials.roleArn.slice(credentials.roleArn.lastIndexOf('/') + 1))}/${escapeXml(credentials.sessionName)}</Arn>\n    <UserId>${credentials.roleId}:${escapeXml(credentials.sessionName)}</UserId>\n    <Account>${accountOf(credentials.roleArn)}</Account>\n`,
            );
            return;
          }
          calls.other++;
          throw new StsFault(
            400,
            'InvalidAction',
            `Could not find operation ${String(action)} for version ${String(form.get('Version'))}`,
          );
        } catch (err) {
          if (err instanceof StsFault) xmlError(res, err);
          else xmlError(res, new StsFault(500, 'InternalFailure', 'internal failure'));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    requests,
    providers,
    roles,
    issued,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** SigV4's URI encoding (RFC 3986 unreserved characters kept). */
function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
