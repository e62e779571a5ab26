import { base64url, SignJWT } from 'jose';
import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { claimsOf, generateClusterKey, signRawRs256 } from '../support/keys.js';
import {
  CLIENT_ID,
  ROLE_ARN,
  startCloudStack,
  TENANT_ID,
  type CloudStack,
} from '../support/cloud-stack.js';

/**
 * The Google broker's hostile-token table on AWS STS' and Entra ID's wires: each token is refused
 * by the broker itself, in that cloud's own error shape, and none of them costs an upstream call.
 */
describe('broker refuses hostile tokens on the AWS and Entra ID wires before anything leaves', () => {
  let stack: CloudStack;
  beforeAll(async () => {
    stack = await startCloudStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const xml = new XMLParser({ parseTagValue: false });
  const now = () => Math.floor(Date.now() / 1000);
  type Cloud = 'aws' | 'azure';
  const tampered = async (cloud: Cloud) => {
    const [h, p, s] = (await stack.token(cloud)).split('.');
    const claims = JSON.parse(new TextDecoder().decode(base64url.decode(p!))) as Record<
      string,
      unknown
    >;
    claims.sub = 'system:serviceaccount:kube-system:admin';
    return `${h}.${base64url.encode(JSON.stringify(claims))}.${s}`;
  };
  const audienceOf = (cloud: Cloud) =>
    cloud === 'aws' ? 'sts.amazonaws.com' : 'api://AzureADTokenExchange';
  const unsigned = (cloud: Cloud, header: object) =>
    `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify({ iss: stack.issuer, sub: 'system:serviceaccount:apps:web', aud: [audienceOf(cloud)], iat: now(), exp: now() + 600 }))}.`;

  /** [name, token, AWS status, AWS code, Entra status, Entra error, AADSTS, description] */
  type Case = [
    string,
    (cloud: Cloud) => Promise<string>,
    number,
    string,
    number,
    string,
    number,
    RegExp,
  ];
  const cases: Case[] = [
    [
      'expired',
      (c) => stack.token(c, { issuedAt: now() - 7200, lifetime: 3600 }),
      400,
      'ExpiredTokenException',
      400,
      'invalid_client',
      700024,
      /expired/,
    ],
    [
      'not yet valid',
      (c) => stack.token(c, { claims: { nbf: now() + 600 } }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      700024,
      /not valid yet/,
    ],
    [
      'issued in the future',
      (c) => stack.token(c, { issuedAt: now() + 600, claims: { nbf: undefined } }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      700024,
      /issued .* in the future/,
    ],
    [
      'exp - iat of 48 h',
      (c) => stack.token(c, { lifetime: 48 * 3600 }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      700024,
      /less than 48 h/,
    ],
    [
      'wrong audience',
      (c) => stack.token(c, { audience: 'https://kubernetes.default.svc' }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_request',
      700212,
      /audience/,
    ],
    [
      'a Google audience',
      (c) =>
        stack.token(c, {
          audience:
            '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/p',
        }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_request',
      700212,
      /audience/,
    ],
    [
      'unregistered issuer',
      (c) => stack.token(c, { issuer: `${stack.serve.url}/c9` }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_request',
      700211,
      /not a cluster registered with this broker/,
    ],
    [
      'foreign issuer with a registered id',
      (c) => stack.token(c, { issuer: 'https://evil.example/c1' }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_request',
      700211,
      /not a cluster registered/,
    ],
    [
      'issuer with a trailing slash',
      (c) => stack.token(c, { issuer: `${stack.issuer}/` }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_request',
      700211,
      /not a cluster registered/,
    ],
    [
      'unknown kid',
      (c) => stack.token(c, {}, generateClusterKey('RS256')),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      50013,
      /key id .* is not among cluster c1's published keys/,
    ],
    [
      'alg none',
      async (c) => unsigned(c, { alg: 'none', kid: stack.key.kid }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      50013,
      /only RS256 and ES256/,
    ],
    [
      'HS256 keyed with the public key',
      (c) =>
        new SignJWT({
          iss: stack.issuer,
          sub: 'system:serviceaccount:apps:web',
          aud: audienceOf(c),
          iat: now(),
          exp: now() + 600,
        })
          .setProtectedHeader({ alg: 'HS256', kid: stack.key.kid })
          .sign(new TextEncoder().encode(JSON.stringify(stack.key.jwk))),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      50013,
      /only RS256 and ES256/,
    ],
    [
      'ES384',
      (c) => stack.token(c, {}, generateClusterKey('ES384')),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      50013,
      /"ES384".*only RS256 and ES256/,
    ],
    [
      'tampered payload',
      tampered,
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      50013,
      /signature does not verify/,
    ],
    [
      'truncated',
      async (c) => (await stack.token(c)).slice(0, 100),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_request',
      50027,
      /not a compact JWT/,
    ],
    [
      'not a JWT',
      async () => 'hello world',
      400,
      'InvalidIdentityToken',
      400,
      'invalid_request',
      50027,
      /not a compact JWT/,
    ],
    [
      'no iss',
      (c) => stack.token(c, { claims: { iss: undefined } }),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_request',
      50027,
      /no "iss" claim/,
    ],
    [
      '300 KB',
      async () => 'a'.repeat(300_000),
      413,
      'ValidationError',
      413,
      'invalid_request',
      900144,
      /larger than 64 KiB/,
    ],
    [
      'crit b64 with b64 false',
      async (c) =>
        signRawRs256(
          stack.key,
          { alg: 'RS256', kid: stack.key.kid, b64: false, crit: ['b64'] },
          base64url.encode(JSON.stringify(claimsOf(await stack.token(c)))),
        ),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      50013,
      /marks \["b64"\] as critical \("crit", RFC 7515 §4\.1\.11\).*implements no JWS extensions/,
    ],
    [
      'crit exp',
      async (c) =>
        signRawRs256(
          stack.key,
          { alg: 'RS256', kid: stack.key.kid, crit: ['exp'], exp: now() + 600 },
          claimsOf(await stack.token(c)),
        ),
      400,
      'InvalidIdentityToken',
      400,
      'invalid_client',
      50013,
      /marks \["exp"\] as critical/,
    ],
  ];

  const awsForm = (token: string) => ({
    Action: 'AssumeRoleWithWebIdentity',
    Version: '2011-06-15',
    RoleArn: ROLE_ARN,
    RoleSessionName: 'web',
    WebIdentityToken: token,
  });
  const entraForm = (token: string) => ({
    client_id: CLIENT_ID,
    scope: 'https://management.azure.com/.default',
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: token,
  });
  const noPart = (text: string, token: string) => {
    for (const part of token.split('.').filter((p) => p.length > 8))
      expect(text).not.toContain(part);
  };

  it.each(cases)(
    'AWS STS: refuses %s with no upstream call',
    async (_name, make, status, code, _es, _ee, _n, description) => {
      const token = await make('aws');
      const before = { ...stack.aws.calls };
      const res = await stack.post('/aws/sts/', awsForm(token));
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toBe('text/xml');
      const body = xml.parse(res.body) as {
        ErrorResponse: {
          Error: { Type: string; Code: string; Message: string };
          RequestId: string;
        };
      };
      expect(body.ErrorResponse.Error).toMatchObject({ Type: 'Sender', Code: code });
      expect(body.ErrorResponse.Error.Message).toMatch(description);
      expect(body.ErrorResponse.RequestId).toBe(res.headers['x-amzn-requestid']);
      expect(stack.aws.calls).toEqual(before);
      noPart(res.body, token);
    },
  );

  it.each(cases)(
    'Entra ID: refuses %s with no upstream call',
    async (_name, make, _as, _ac, status, error, aadsts, description) => {
      const token = await make('azure');
      const before = { ...stack.entra.calls };
      const res = await stack.post(`/azure/${TENANT_ID}/oauth2/v2.0/token`, entraForm(token));
      expect(res.status).toBe(status);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      expect(body).toMatchObject({
        error,
        error_codes: [aadsts],
        trace_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        correlation_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      });
      expect(body.error_description).toMatch(new RegExp(`^AADSTS${aadsts}: `));
      expect(body.error_description).toMatch(description);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(stack.entra.calls).toEqual(before);
      noPart(res.body, token);
    },
  );

  it('logs the refusal reason but none of the refused token, on both wires', async () => {
    for (const cloud of ['aws', 'azure'] as const) {
      const token = await tampered(cloud);
      if (cloud === 'aws') await stack.post('/aws/sts/', awsForm(token));
      else await stack.post(`/azure/${TENANT_ID}/oauth2/v2.0/token`, entraForm(token));
      const line = stack.auditLines().at(-1)!;
      expect(line).toMatchObject({
        endpoint: cloud === 'aws' ? 'assumeRoleWithWebIdentity' : 'entraToken',
        cluster: 'c1',
        outcome: 'refused',
        reason: 'bad_signature',
      });
      expect(line.subject).toBeUndefined();
      for (const part of token.split('.')) expect(stack.serve.logs.join('\n')).not.toContain(part);
    }
  });
});
