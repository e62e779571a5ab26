import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CLIENT_ID,
  ROLE_ARN,
  startCloudStack,
  SUBJECT,
  TENANT_ID,
  type CloudStack,
} from '../support/cloud-stack.js';

/**
 * The AWS STS and Entra ID endpoints of the broker with malformed requests and the cluster's
 * policy: each refusal is in the cloud's own shape, says what to fix, and costs no upstream
 * call; good requests are forwarded, relayed and cached.
 */
describe('broker AWS STS and Entra ID endpoints: requests, policy, cache', () => {
  let stack: CloudStack;
  let token: { aws: string; azure: string };
  beforeAll(async () => {
    stack = await startCloudStack({
      policy: {
        roles: ['arn:aws:iam::123456789012:role/app', 'arn:aws:iam::123456789012:role/team-*'],
        clientIds: [CLIENT_ID],
        subjects: ['system:serviceaccount:apps:*'],
      },
    });
    token = { aws: await stack.token('aws'), azure: await stack.token('azure') };
  });
  afterAll(async () => {
    await stack?.close();
  });

  const xml = new XMLParser({ parseTagValue: false });
  /** Stands for the cluster's good token in the tables (built before the tokens are signed). */
  const AWS_TOKEN = 'AWS-TOKEN';
  const AZURE_TOKEN = 'AZURE-TOKEN';
  const withTokens = (form: Record<string, string> | string): Record<string, string> | string =>
    typeof form === 'string'
      ? form.replace(AWS_TOKEN, token.aws).replace(AZURE_TOKEN, token.azure)
      : Object.fromEntries(
          Object.entries(form).map(([name, value]) => [
            name,
            value === AWS_TOKEN ? token.aws : value === AZURE_TOKEN ? token.azure : value,
          ]),
        );
  const awsForm = (extra: Record<string, string | undefined> = {}) => {
    const form: Record<string, string> = {
      Action: 'AssumeRoleWithWebIdentity',
      Version: '2011-06-15',
      RoleArn: ROLE_ARN,
      RoleSessionName: 'web',
      WebIdentityToken: AWS_TOKEN,
    };
    for (const [name, value] of Object.entries(extra))
      if (value === undefined) delete form[name];
      else form[name] = value;
    return form;
  };
  const entraForm = (extra: Record<string, string | undefined> = {}) => {
    const form: Record<string, string> = {
      client_id: CLIENT_ID,
      scope: 'https://management.azure.com/.default',
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: AZURE_TOKEN,
    };
    for (const [name, value] of Object.entries(extra))
      if (value === undefined) delete form[name];
      else form[name] = value;
    return form;
  };
  const awsError = (body: string) =>
    (
      xml.parse(body) as {
        ErrorResponse: { Error: { Type: string; Code: string; Message: string } };
      }
    ).ErrorResponse.Error;

  type AwsCase = [
    string,
    Record<string, string> | string,
    number,
    string,
    RegExp,
    Record<string, string>?,
  ];
  const awsCases: AwsCase[] = [
    [
      'no Action',
      awsForm({ Action: undefined }),
      400,
      'ValidationError',
      /Missing parameter "Action"/,
    ],
    [
      'another Action',
      awsForm({ Action: 'AssumeRole' }),
      400,
      'InvalidAction',
      /AssumeRoleWithWebIdentity only/,
    ],
    [
      'GetCallerIdentity (signed for AWS itself)',
      'Action=GetCallerIdentity&Version=2011-06-15',
      400,
      'InvalidAction',
      /go to AWS STS directly/,
    ],
    [
      'a wrong Version',
      awsForm({ Version: '2010-01-01' }),
      400,
      'ValidationError',
      /version is 2011-06-15/,
    ],
    [
      'no RoleArn',
      awsForm({ RoleArn: undefined }),
      400,
      'ValidationError',
      /Value null at 'roleArn'.*send RoleArn/,
    ],
    [
      'a RoleArn that is not a role',
      awsForm({ RoleArn: 'arn:aws:iam::123456789012:user/bob' }),
      400,
      'ValidationError',
      /'roleArn'.*IAM role ARN/,
    ],
    [
      'no RoleSessionName',
      awsForm({ RoleSessionName: undefined }),
      400,
      'ValidationError',
      /'roleSessionName'/,
    ],
    [
      'a RoleSessionName with a space',
      awsForm({ RoleSessionName: 'a b' }),
      400,
      'ValidationError',
      /'roleSessionName'.*2-64 characters/,
    ],
    [
      'DurationSeconds under 900',
      awsForm({ DurationSeconds: '60' }),
      400,
      'ValidationError',
      /'durationSeconds'.*between 900 and 43200/,
    ],
    [
      'DurationSeconds not a number',
      awsForm({ DurationSeconds: '1e4' }),
      400,
      'ValidationError',
      /'durationSeconds'/,
    ],
    [
      'an unknown parameter',
      awsForm({ Tags: 'x' }),
      400,
      'ValidationError',
      /Unknown parameter "Tags"/,
    ],
    [
      'a parameter twice',
      `${new URLSearchParams(awsForm()).toString()}&RoleArn=${encodeURIComponent(ROLE_ARN)}`,
      400,
      'ValidationError',
      /"RoleArn" is given more than once/,
    ],
    [
      'a bad policy ARN',
      awsForm({ 'PolicyArns.member.1.arn': 'not-an-arn' }),
      400,
      'ValidationError',
      /IAM policy ARN/,
    ],
    [
      'JSON instead of a form',
      JSON.stringify(awsForm()),
      415,
      'ValidationError',
      /application\/x-www-form-urlencoded/,
      { 'content-type': 'application/json' },
    ],
    [
      'a role outside the policy',
      awsForm({ RoleArn: 'arn:aws:iam::123456789012:role/admin' }),
      403,
      'AccessDenied',
      /Not authorized to perform sts:AssumeRoleWithWebIdentity.*role\/admin.*PATCH \/api\/v1\/clusters\/c1/,
    ],
  ];

  it.each(awsCases)(
    'AWS STS refuses %s in its XML shape, with no upstream call',
    async (_name, form, status, code, message, headers) => {
      const before = { ...stack.aws.calls };
      const res = await stack.post('/aws/sts/', withTokens(form), headers);
      expect(res.status).toBe(status);
      expect(awsError(res.body)).toMatchObject({
        Type: 'Sender',
        Code: code,
        Message: expect.stringMatching(message),
      });
      expect(stack.aws.calls).toEqual(before);
    },
  );

  it('AWS STS refuses a subject outside the policy with AccessDenied', async () => {
    const other = await stack.token('aws', { namespace: 'other' });
    const res = await stack.post('/aws/sts/', withTokens(awsForm({ WebIdentityToken: other })));
    expect(res.status).toBe(403);
    expect(awsError(res.body)).toMatchObject({
      Code: 'AccessDenied',
      Message: expect.stringMatching(/system:serviceaccount:other:web/),
    });
  });

  it('AWS STS refuses GET with a 405 in its shape', async () => {
    const res = await stack.get('/aws/sts/');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(awsError(res.body).Code).toBe('ValidationError');
  });

  it("AWS STS: forwards, relays the XML, caches until the Expiration, and relays the fake's own refusal", async () => {
    const before = stack.aws.calls.assumeRoleWithWebIdentity;
    const first = await stack.post(
      '/aws/sts',
      withTokens(awsForm({ RoleSessionName: 'cache-test' })),
    );
    expect(first.status, first.body).toBe(200);
    const second = await stack.post(
      '/aws/sts/',
      withTokens(awsForm({ RoleSessionName: 'cache-test' })),
    );
    expect(second.body).toBe(first.body);
    expect(stack.aws.calls.assumeRoleWithWebIdentity - before).toBe(1);
    const answer = xml.parse(first.body) as {
      AssumeRoleWithWebIdentityResponse: {
        AssumeRoleWithWebIdentityResult: { SubjectFromWebIdentityToken: string };
      };
    };
    expect(
      answer.AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult
        .SubjectFromWebIdentityToken,
    ).toBe(SUBJECT);
    // Allowed by the broker's policy, unknown to AWS: AWS's own answer is relayed.
    const unknown = await stack.post(
      '/aws/sts/',
      withTokens(awsForm({ RoleArn: 'arn:aws:iam::123456789012:role/team-a' })),
    );
    expect(unknown.status).toBe(403);
    expect(awsError(unknown.body)).toMatchObject({
      Code: 'AccessDenied',
      Message: 'Not authorized to perform sts:AssumeRoleWithWebIdentity',
    });
    expect(stack.auditLines().at(-1)).toMatchObject({
      outcome: 'upstream_refused',
      upstreamStatus: 403,
    });
  });

  type EntraCase = [
    string,
    string,
    Record<string, string> | string,
    number,
    string,
    number,
    RegExp,
    Record<string, string>?,
  ];
  const path = `/azure/${TENANT_ID}/oauth2/v2.0/token`;
  const entraCases: EntraCase[] = [
    [
      'a tenant that is no GUID nor domain',
      '/azure/not_a_tenant!/oauth2/v2.0/token',
      entraForm(),
      400,
      'invalid_request',
      900144,
      /Tenant 'not_a_tenant!' not found/,
    ],
    [
      'the common tenant',
      '/azure/common/oauth2/v2.0/token',
      entraForm(),
      400,
      'invalid_request',
      900144,
      /needs the tenant's id/,
    ],
    [
      'no grant_type',
      path,
      entraForm({ grant_type: undefined }),
      400,
      'invalid_request',
      900144,
      /must contain the following parameter: 'grant_type'/,
    ],
    [
      'another grant_type',
      path,
      entraForm({ grant_type: 'password' }),
      400,
      'unsupported_grant_type',
      70003,
      /unsupported grant type 'password'/,
    ],
    [
      'a client_id that is not a GUID',
      path,
      entraForm({ client_id: 'my-app' }),
      400,
      'invalid_request',
      900144,
      /is not a GUID: set AZURE_CLIENT_ID/,
    ],
    [
      'no client_assertion',
      path,
      entraForm({ client_assertion: undefined }),
      400,
      'invalid_request',
      900144,
      /'client_assertion'/,
    ],
    [
      'a client secret instead',
      path,
      entraForm({
        client_assertion: undefined,
        client_assertion_type: undefined,
        client_secret: 's3cret',
      }),
      400,
      'invalid_request',
      900144,
      /unknown parameter "client_secret"/,
    ],
    [
      'another assertion type',
      path,
      entraForm({ client_assertion_type: 'urn:x' }),
      400,
      'invalid_request',
      900144,
      /client_assertion_type/,
    ],
    ['no scope', path, entraForm({ scope: undefined }), 400, 'invalid_request', 900144, /'scope'/],
    [
      'a scope with control characters',
      path,
      entraForm({ scope: 'a\u0001b' }),
      400,
      'invalid_scope',
      70011,
      /'scope' is not valid/,
    ],
    [
      'claims that are not JSON',
      path,
      entraForm({ claims: '{' }),
      400,
      'invalid_request',
      900144,
      /'claims' parameter must be a JSON object/,
    ],
    [
      'JSON instead of a form',
      path,
      JSON.stringify(entraForm()),
      415,
      'invalid_request',
      900144,
      /application\/x-www-form-urlencoded/,
      { 'content-type': 'application/json' },
    ],
    [
      'a client id outside the policy',
      path,
      entraForm({ client_id: '11111111-2222-3333-4444-555555555555' }),
      400,
      'unauthorized_client',
      700016,
      /Application with identifier '11111111-2222-3333-4444-555555555555' may not be used by cluster c1/,
    ],
  ];

  it.each(entraCases)(
    'Entra ID refuses %s in its JSON shape, with no upstream call',
    async (_name, target, form, status, error, aadsts, message, headers) => {
      const before = { ...stack.entra.calls };
      const res = await stack.post(target, withTokens(form), headers);
      expect(res.status).toBe(status);
      const body = JSON.parse(res.body) as {
        error: string;
        error_codes: number[];
        error_description: string;
      };
      expect(body).toMatchObject({ error, error_codes: [aadsts] });
      expect(body.error_description).toMatch(message);
      expect(stack.entra.calls).toEqual(before);
    },
  );

  it('Entra ID takes what MSAL adds (client_info, telemetry) and refuses a subject outside the policy', async () => {
    const other = await stack.token('azure', { namespace: 'other' });
    const res = await stack.post(
      path,
      withTokens({
        ...entraForm({ client_assertion: other }),
        client_info: '1',
        'x-client-SKU': 'msal.js.node',
      }),
    );
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request', error_codes: [700213] });
  });

  it("Entra ID: forwards, relays, caches with the lifetime left, and relays Entra's own refusal", async () => {
    const before = stack.entra.calls.token;
    const first = await stack.post(
      path,
      withTokens(entraForm({ scope: 'https://vault.azure.net/.default' })),
    );
    expect(first.status, first.body).toBe(200);
    const second = await stack.post(
      path,
      withTokens(entraForm({ scope: 'https://vault.azure.net/.default' })),
    );
    expect(stack.entra.calls.token - before).toBe(1);
    const [a, b] = [JSON.parse(first.body), JSON.parse(second.body)] as Array<
      Record<string, unknown>
    >;
    expect(b!.access_token).toBe(a!.access_token);
    expect(b!.expires_in).toBeLessThanOrEqual(a!.expires_in as number);
    expect(stack.auditLines().at(-1)).toMatchObject({
      endpoint: 'entraToken',
      cache: 'hit',
      outcome: 'ok',
    });
    // Two scopes: Entra refuses client credentials with more than one resource; its answer is relayed.
    const refused = await stack.post(
      path,
      withTokens(entraForm({ scope: 'https://vault.azure.net/.default openid' })),
    );
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toMatchObject({
      error: 'invalid_scope',
      error_codes: [1002012],
    });
  });

  it('serves tenant discovery whose token endpoint is the broker, for a GUID and a domain', async () => {
    for (const tenant of [TENANT_ID, 'contoso.onmicrosoft.com']) {
      const res = await stack.get(`/azure/${tenant}/v2.0/.well-known/openid-configuration`);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('max-age=86400');
      const doc = JSON.parse(res.body) as Record<string, string>;
      expect(doc.token_endpoint).toBe(`${stack.serve.url}/azure/${tenant}/oauth2/v2.0/token`);
      expect(doc.authorization_endpoint).toBe(
        `${stack.serve.url}/azure/${tenant}/oauth2/v2.0/authorize`,
      );
    }
    const bad = await stack.get('/azure/a..b/v2.0/.well-known/openid-configuration');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toMatchObject({ error: 'invalid_request' });
  });
});
