import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { applyPatch, deepClone } from 'fast-json-patch';
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
import { startWebhookHarness, type WebhookHarness } from '../support/webhook.js';
import type { PodObject } from '../webhook/pod-checks.js';

/**
 * The whole pod path for AWS and Azure: the webhook mutates a pod whose ServiceAccount carries
 * the upstream webhooks' annotations and names the broker; the kubelet's part (writing each
 * projected token, with the audience and path the patch asks for) is played by the test under a
 * pod root directory; then the real AWS SDK and @azure/identity run with exactly the container's
 * rendered environment and reach the fakes through the broker.
 */
describe('the environment the webhook renders, given to the real AWS and Azure SDKs', () => {
  let stack: CloudStack;
  let webhook: WebhookHarness;
  beforeAll(async () => {
    stack = await startCloudStack();
    webhook = await startWebhookHarness({
      serviceAccounts: [
        {
          namespace: 'apps',
          name: 'web',
          annotations: {
            'eks.amazonaws.com/role-arn': ROLE_ARN,
            'azure.workload.identity/client-id': CLIENT_ID,
            'azure.workload.identity/tenant-id': TENANT_ID,
            'idbridge.dev/token-url': `${stack.serve.url}/v1/token`,
          },
        },
      ],
      env: { IDBRIDGE_WEBHOOK_AWS_REGION: 'eu-west-1' },
    });
  });
  afterAll(async () => {
    await webhook?.close();
    await stack?.close();
  });

  interface ProjectedToken {
    audience: string;
    path: string;
  }
  type Volume = {
    name: string;
    projected?: { sources: Array<{ serviceAccountToken?: ProjectedToken }> };
  };

  /** The mutated pod's one container: its environment, with each token file the kubelet would write. */
  async function admittedContainer(podRoot: string): Promise<Record<string, string>> {
    const pod: PodObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-1',
        namespace: 'apps',
        labels: { app: 'web', 'azure.workload.identity/use': 'true' },
      },
      spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'example/app:1' }] },
    };
    const answer = await webhook.review(pod);
    expect(answer.review.response?.allowed, JSON.stringify(answer.review)).toBe(true);
    const patched = applyPatch(deepClone(pod), answer.patch!, true, false).newDocument as PodObject;
    const container = patched.spec.containers[0]!;
    const volumes = (patched.spec.volumes ?? []) as unknown as Volume[];
    for (const mount of container.volumeMounts ?? []) {
      const projected = volumes.find((v) => v.name === mount.name)?.projected?.sources[0]
        ?.serviceAccountToken;
      if (!projected) continue;
      const cloud = projected.audience === 'sts.amazonaws.com' ? 'aws' : 'azure';
      const file = join(podRoot, mount.mountPath, projected.path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, await stack.token(cloud, { audience: projected.audience }));
    }
    const env: Record<string, string> = {};
    for (const variable of container.env ?? [])
      if (variable.value !== undefined) env[variable.name] = variable.value;
    return env;
  }

  it('names the broker for both clouds, and both SDKs get credentials through it', async () => {
    const podRoot = join(stack.dir, 'pod-root');
    const env = await admittedContainer(podRoot);
    expect(env).toMatchObject({
      AWS_ROLE_ARN: ROLE_ARN,
      AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token',
      AWS_ENDPOINT_URL_STS: `${stack.serve.url}/aws/sts`,
      AWS_REGION: 'eu-west-1',
      AZURE_CLIENT_ID: CLIENT_ID,
      AZURE_TENANT_ID: TENANT_ID,
      AZURE_FEDERATED_TOKEN_FILE: '/var/run/secrets/azure/tokens/azure-identity-token',
      AZURE_AUTHORITY_HOST: `${stack.serve.url}/azure/`,
    });
    // The container sees its files at these paths; here they live under the pod root.
    const inPod = {
      ...env,
      AWS_WEB_IDENTITY_TOKEN_FILE: join(podRoot, env.AWS_WEB_IDENTITY_TOKEN_FILE!),
      AZURE_FEDERATED_TOKEN_FILE: join(podRoot, env.AZURE_FEDERATED_TOKEN_FILE!),
      NODE_EXTRA_CA_CERTS: stack.caFile,
      FAKE_STS_URL: stack.aws.url,
    };
    const before = {
      aws: stack.aws.calls.assumeRoleWithWebIdentity,
      entra: stack.entra.calls.token,
    };
    const results = await runSdks(['aws-token-file', 'azure-workload'], inPod, stack.dir);
    const [aws, azure] = results;
    expect(aws, JSON.stringify(aws)).toMatchObject({
      ok: true,
      arn: expect.stringMatching(/^arn:aws:sts::123456789012:assumed-role\/app\//),
    });
    expect(stack.aws.issued.has(aws!.accessKeyId!)).toBe(true);
    expect(azure, JSON.stringify(azure)).toMatchObject({ ok: true });
    expect(await stack.entra.verifyAccessToken(azure!.token!)).toMatchObject({
      appid: CLIENT_ID,
      tid: TENANT_ID,
      federated_subject: SUBJECT,
    });
    // Each exchange went through the broker (its audit), once to each upstream.
    expect(stack.aws.calls.assumeRoleWithWebIdentity - before.aws).toBe(1);
    expect(stack.entra.calls.token - before.entra).toBe(1);
    const endpoints = stack.auditLines().map((line) => line.endpoint);
    expect(endpoints).toContain('assumeRoleWithWebIdentity');
    expect(endpoints).toContain('entraToken');
  });
});
