import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLE_ARN, startCloudStack, type CloudStack } from '../support/cloud-stack.js';

/** The fake AWS STS on its own: it judges tokens as STS does and fails in STS' XML shapes. */
describe('fake AWS STS', () => {
  let stack: CloudStack;
  beforeAll(async () => {
    stack = await startCloudStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const xml = new XMLParser({ parseTagValue: false });
  const assume = async (token: string, extra: Record<string, string> = {}) => {
    const res = await fetch(`${stack.aws.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        Action: 'AssumeRoleWithWebIdentity',
        Version: '2011-06-15',
        RoleArn: ROLE_ARN,
        RoleSessionName: 'test',
        WebIdentityToken: token,
        ...extra,
      }),
    });
    return { status: res.status, body: xml.parse(await res.text()) as Record<string, any> };
  };
  const now = () => Math.floor(Date.now() / 1000);

  it('issues credentials for a token its OIDC provider and the role trust accept', async () => {
    const { status, body } = await assume(await stack.token('aws'));
    expect(status).toBe(200);
    const result = body.AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult;
    expect(result.Credentials.AccessKeyId).toMatch(/^ASIA[0-9A-F]{16}$/);
    expect(Date.parse(result.Credentials.Expiration)).toBeGreaterThan(Date.now());
    expect(result.AssumedRoleUser.Arn).toBe('arn:aws:sts::123456789012:assumed-role/app/test');
  });

  it.each([
    [
      'an unknown issuer',
      () => stack.token('aws', { issuer: 'https://127.0.0.1:1/nowhere' }),
      400,
      'InvalidIdentityToken',
      /No OpenIDConnect provider found/,
    ],
    [
      'another audience',
      () => stack.token('aws', { audience: 'api://AzureADTokenExchange' }),
      400,
      'InvalidIdentityToken',
      /Incorrect token audience/,
    ],
    [
      'an expired token',
      () => stack.token('aws', { issuedAt: now() - 7200, lifetime: 3600 }),
      400,
      'ExpiredTokenException',
      /Token expired/,
    ],
    [
      'a subject outside the trust policy',
      () => stack.token('aws', { namespace: 'other' }),
      403,
      'AccessDenied',
      /Not authorized/,
    ],
    ['not a JWT', async () => 'nope', 400, 'InvalidIdentityToken', /not a valid JWT/],
  ])('refuses %s as STS does', async (_name, make, status, code, message) => {
    const { status: got, body } = await assume(await make());
    expect(got).toBe(status);
    expect(body.ErrorResponse.Error).toMatchObject({
      Type: 'Sender',
      Code: code,
      Message: expect.stringMatching(message),
    });
  });

  it('answers IDPCommunicationError when the issuer documents cannot be fetched', async () => {
    stack.aws.providers.push({
      issuer: 'https://127.0.0.1:9/gone',
      clientIds: ['sts.amazonaws.com'],
    });
    const { body } = await assume(await stack.token('aws', { issuer: 'https://127.0.0.1:9/gone' }));
    expect(body.ErrorResponse.Error.Code).toBe('IDPCommunicationError');
  });

  it('refuses an unsigned or badly signed GetCallerIdentity', async () => {
    const unsigned = await fetch(`${stack.aws.url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    expect(unsigned.status).toBe(403);
    const { body } = await assume(await stack.token('aws'));
    const key = body.AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult.Credentials
      .AccessKeyId as string;
    const forged = await fetch(`${stack.aws.url}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-amz-date': '20260101T000000Z',
        'x-amz-security-token': stack.aws.issued.get(key)!.sessionToken,
        authorization: `AWS4-HMAC-SHA256 Credential=${key}/20260101/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
      },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });
});
