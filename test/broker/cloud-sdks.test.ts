import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSdks } from '../support/cloud-sdk.js';
import {
  CLIENT_ID,
  ROLE_ARN,
  startCloudStack,
  SUBJECT,
  TENANT_ID,
  type CloudStack,
} from '../support/cloud-stack.js';

/**
 * Real SDKs as judges: the AWS SDK for JavaScript v3 and @azure/identity, configured by the
 * environment the webhooks render, get credentials from the fakes of AWS STS and Entra ID (which
 * verify the ServiceAccount token as the clouds do), then the same through the broker. The AWS
 * credentials then sign an STS GetCallerIdentity the fake verifies (SigV4).
 */
describe('real AWS and Azure SDKs, directly and through the broker', () => {
  let stack: CloudStack;
  beforeAll(async () => {
    stack = await startCloudStack();
  });
  afterAll(async () => {
    await stack?.close();
  });

  const awsEnv = async (endpoint: string, extra: Record<string, string> = {}) => ({
    ...extra,
    NODE_EXTRA_CA_CERTS: stack.caFile,
    AWS_ROLE_ARN: ROLE_ARN,
    AWS_WEB_IDENTITY_TOKEN_FILE: await stack.tokenFile(await stack.token('aws')),
    AWS_STS_REGIONAL_ENDPOINTS: 'regional',
    AWS_REGION: 'eu-west-1',
    AWS_DEFAULT_REGION: 'eu-west-1',
    AWS_ENDPOINT_URL_STS: endpoint,
    FAKE_STS_URL: stack.aws.url,
  });
  const azureEnv = async (authorityHost: string) => ({
    NODE_EXTRA_CA_CERTS: stack.caFile,
    AZURE_CLIENT_ID: CLIENT_ID,
    AZURE_TENANT_ID: TENANT_ID,
    AZURE_FEDERATED_TOKEN_FILE: await stack.tokenFile(await stack.token('azure')),
    AZURE_AUTHORITY_HOST: authorityHost,
  });

  const expectAwsIdentity = (results: Awaited<ReturnType<typeof runSdks>>) => {
    for (const result of results) {
      expect(result, JSON.stringify(result)).toMatchObject({
        ok: true,
        arn: expect.stringMatching(/^arn:aws:sts::123456789012:assumed-role\/app\//),
        account: '123456789012',
      });
      // Credentials the fake issued, and signed with: it knows the key id.
      expect(stack.aws.issued.has(result.accessKeyId!)).toBe(true);
    }
  };
  const expectAzureTokens = async (results: Awaited<ReturnType<typeof runSdks>>) => {
    for (const result of results) {
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
      const claims = await stack.entra.verifyAccessToken(result.token!);
      expect(claims).toMatchObject({
        aud: 'https://management.azure.com',
        appid: CLIENT_ID,
        tid: TENANT_ID,
        federated_subject: SUBJECT,
      });
    }
  };

  it('AWS SDK v3 fromTokenFile() and the default chain against the fake STS, then GetCallerIdentity', async () => {
    const before = stack.aws.calls.assumeRoleWithWebIdentity;
    const results = await runSdks(
      ['aws-token-file', 'aws-chain'],
      await awsEnv(stack.aws.url),
      stack.dir,
    );
    expectAwsIdentity(results);
    expect(stack.aws.calls.assumeRoleWithWebIdentity - before).toBe(2);
  });

  it('AWS SDK v3 through the broker: AWS_ENDPOINT_URL_STS=https://BROKER/aws/sts', async () => {
    const before = stack.aws.calls.assumeRoleWithWebIdentity;
    // One session name for both: the second exchange is the same request, answered from the cache.
    const results = await runSdks(
      ['aws-token-file', 'aws-chain'],
      await awsEnv(`${stack.serve.url}/aws/sts`, { AWS_ROLE_SESSION_NAME: 'web' }),
      stack.dir,
    );
    expectAwsIdentity(results);
    expect(stack.aws.calls.assumeRoleWithWebIdentity - before).toBe(1);
    const lines = stack
      .auditLines()
      .filter((line) => line.endpoint === 'assumeRoleWithWebIdentity');
    expect(lines.slice(-2)).toMatchObject([
      {
        cluster: 'c1',
        subject: SUBJECT,
        role: ROLE_ARN,
        outcome: 'ok',
        status: 200,
        cache: 'miss',
      },
      { cluster: 'c1', subject: SUBJECT, role: ROLE_ARN, outcome: 'ok', status: 200, cache: 'hit' },
    ]);
  });

  it('@azure/identity WorkloadIdentityCredential and DefaultAzureCredential against the fake Entra ID', async () => {
    const before = stack.entra.calls.token;
    const results = await runSdks(
      ['azure-workload', 'azure-default'],
      await azureEnv(stack.entra.url),
      stack.dir,
    );
    await expectAzureTokens(results);
    expect(stack.entra.calls.token - before).toBe(2);
  });

  it('@azure/identity through the broker: AZURE_AUTHORITY_HOST=https://BROKER/azure/', async () => {
    const before = { ...stack.entra.calls };
    const results = await runSdks(
      ['azure-workload', 'azure-default'],
      await azureEnv(`${stack.serve.url}/azure/`),
      stack.dir,
    );
    await expectAzureTokens(results);
    // Tenant discovery came to the broker; the token request went on to Entra ID once, the
    // second credential's identical request was answered from the broker's cache.
    expect(stack.entra.calls.discovery).toBe(before.discovery);
    expect(stack.entra.calls.token - before.token).toBe(1);
    const identity = { cluster: 'c1', subject: SUBJECT, tenant: TENANT_ID, clientId: CLIENT_ID };
    const lines = stack.auditLines().filter((line) => line.endpoint === 'entraToken');
    expect(lines.slice(-2)).toMatchObject([
      { ...identity, outcome: 'ok', cache: 'miss' },
      { ...identity, outcome: 'ok', cache: 'hit' },
    ]);
  });
});
