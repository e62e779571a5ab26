import { describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../../src/webhook/config.js';
import {
  awsInjection,
  azureInjection,
  renderContainerEnv,
  resolveAws,
  resolveAzure,
} from '../../src/webhook/clouds.js';
import type { FakeServiceAccount } from '../fakes/kube-serviceaccounts.js';
import {
  allContainers,
  CONFIG_PATH,
  container,
  EMAIL,
  itAdmitsEach,
  itDeniesEach,
  podOf,
  PROVIDER,
  useWebhook,
  type AdmissionFixture,
} from './fixtures.js';
import { applyAndValidate, envOf, type ContainerObject, type PodObject } from './pod-checks.js';

/**
 * AWS (amazon-eks-pod-identity-webhook) and Azure (azure-workload-identity) through the real HTTPS
 * server, with the upstream webhooks' own test cases taken by their meaning: an annotated
 * ServiceAccount, skip-containers, token expiration (ServiceAccount and pod), the Azure label
 * opt-in, variables and volumes the pod already has, reinvocation; then all three clouds on one
 * pod, and a table of hostile annotations. Every patch is applied with fast-json-patch and the
 * result validated against Kubernetes' schema (kubernetes-models).
 */

const ROLE = 'arn:aws:iam::111122223333:role/s3-reader';
const CLIENT = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const DEFAULT_TENANT = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const AWS_DIR = '/var/run/secrets/eks.amazonaws.com/serviceaccount';
const AWS_TOKEN = `${AWS_DIR}/token`;
const AZ_DIR = '/var/run/secrets/azure/tokens';
const AZ_TOKEN = `${AZ_DIR}/azure-identity-token`;
const USE = { 'azure.workload.identity/use': 'true' };

const google = {
  'cloud.google.com/workload-identity-provider': PROVIDER,
  'cloud.google.com/service-account-email': EMAIL,
};
const aws = { 'eks.amazonaws.com/role-arn': ROLE };
const azure = {
  'azure.workload.identity/client-id': CLIENT,
  'azure.workload.identity/tenant-id': TENANT,
};

const sa = (name: string, annotations: Record<string, string>): FakeServiceAccount => ({
  namespace: 'apps',
  name,
  annotations,
});

const serviceAccounts: FakeServiceAccount[] = [
  sa('aws', aws),
  sa('aws-tuned', {
    ...aws,
    'eks.amazonaws.com/audience': 'sts.example.internal',
    'eks.amazonaws.com/token-expiration': '7200',
    'eks.amazonaws.com/sts-regional-endpoints': 'true',
  }),
  sa('aws-short', { ...aws, 'eks.amazonaws.com/token-expiration': '600' }),
  sa('aws-empty-role', { 'eks.amazonaws.com/role-arn': '' }),
  sa('azure', azure),
  sa('azure-default-tenant', { 'azure.workload.identity/client-id': CLIENT }),
  sa('azure-no-client', {}),
  sa('azure-tuned', {
    ...azure,
    'azure.workload.identity/service-account-token-expiration': '7200',
  }),
  sa('all', { ...google, ...aws, ...azure }),
  sa('all-brokered', {
    ...google,
    ...aws,
    ...azure,
    'idbridge.dev/token-url': 'https://broker.example.com/v1/token',
  }),
];

const pod = (
  serviceAccountName: string,
  spec: Partial<PodObject['spec']> = {},
  metadata: Partial<PodObject['metadata']> = {},
) => podOf(serviceAccountName, spec, { labels: { app: 'web' }, ...metadata });
const azurePod = (
  serviceAccountName: string,
  spec: Partial<PodObject['spec']> = {},
  metadata: Partial<PodObject['metadata']> = {},
) => pod(serviceAccountName, spec, { labels: { app: 'web', ...USE }, ...metadata });

const volume = (patched: PodObject, name: string) =>
  patched.spec.volumes!.find((v) => v.name === name) as unknown as {
    projected: {
      sources: Array<{
        serviceAccountToken: { audience: string; expirationSeconds: number; path: string };
      }>;
    };
  };
const tokenOf = (patched: PodObject, name: string) =>
  volume(patched, name).projected.sources[0]!.serviceAccountToken;
const byName = (patched: PodObject) =>
  Object.fromEntries(allContainers(patched).map((c) => [c.name, c]));
const mounts = (c: ContainerObject) => (c.volumeMounts ?? []).map((m) => m.name);

const fixtures: AdmissionFixture[] = [
  // amazon-eks-pod-identity-webhook: rawPodWithoutVolumes, with the webhook's region flag.
  {
    name: 'AWS: an annotated ServiceAccount gives the exact minimal patch of the upstream webhook',
    pod: pod('aws'),
    warnings: [],
    patch: [
      {
        op: 'add',
        path: '/spec/volumes',
        value: [
          {
            name: 'aws-iam-token',
            projected: {
              sources: [
                {
                  serviceAccountToken: {
                    audience: 'sts.amazonaws.com',
                    expirationSeconds: 86400,
                    path: 'token',
                  },
                },
              ],
              defaultMode: 0o644,
            },
          },
        ],
      },
      {
        op: 'add',
        path: '/spec/containers/0/volumeMounts',
        value: [{ name: 'aws-iam-token', mountPath: AWS_DIR, readOnly: true }],
      },
      {
        op: 'add',
        path: '/spec/containers/0/env',
        value: [
          { name: 'AWS_DEFAULT_REGION', value: 'eu-west-1' },
          { name: 'AWS_REGION', value: 'eu-west-1' },
          { name: 'AWS_ROLE_ARN', value: ROLE },
          { name: 'AWS_WEB_IDENTITY_TOKEN_FILE', value: AWS_TOKEN },
        ],
      },
    ],
  },
  {
    name: 'AWS: audience, expiration and regional STS from the ServiceAccount',
    pod: pod('aws-tuned'),
    check: (patched) => {
      expect(tokenOf(patched, 'aws-iam-token')).toEqual({
        audience: 'sts.example.internal',
        expirationSeconds: 7200,
        path: 'token',
      });
      expect(envOf(patched.spec.containers[0]!).AWS_STS_REGIONAL_ENDPOINTS).toBe('regional');
    },
  },
  {
    name: 'AWS: the pod-level token-expiration overrides the ServiceAccount',
    pod: pod('aws-tuned', {}, { annotations: { 'eks.amazonaws.com/token-expiration': '5000' } }),
    check: (patched) => expect(tokenOf(patched, 'aws-iam-token').expirationSeconds).toBe(5000),
  },
  // rawPodMinTokenExpiration: under an hour is raised to an hour.
  {
    name: 'AWS: an expiration under 3600 s is raised to 3600 s, with a warning',
    pod: pod('aws-short'),
    warnings: [/eks\.amazonaws\.com\/token-expiration 600s raised to 3600s/],
    check: (patched) => expect(tokenOf(patched, 'aws-iam-token').expirationSeconds).toBe(3600),
  },
  {
    name: 'AWS: an empty role-arn asks for nothing',
    pod: pod('aws-empty-role'),
    patch: 'none',
  },
  // rawPodSkip: a comma-separated list; init containers are mutated too (rawPodWithInitContainer).
  {
    name: 'AWS: skip-containers (comma-separated) leaves those containers alone; init containers get it',
    pod: pod(
      'aws',
      {
        initContainers: [container('init'), container('init-skip')],
        containers: [container('app'), container('sidecar')],
      },
      { annotations: { 'eks.amazonaws.com/skip-containers': 'sidecar,init-skip' } },
    ),
    check: (patched) => {
      const c = byName(patched);
      expect(c.sidecar).toEqual(container('sidecar'));
      expect(c['init-skip']).toEqual(container('init-skip'));
      expect(envOf(c.app!).AWS_ROLE_ARN).toBe(ROLE);
      expect(envOf(c.init!).AWS_WEB_IDENTITY_TOKEN_FILE).toBe(AWS_TOKEN);
    },
  },
  // rawPodRegionPresent / rawPodHasSTS: either variable of a pair set keeps the container's pair.
  {
    name: 'AWS: variables the container sets are kept, pair by pair, as upstream',
    pod: pod('aws-tuned', {
      containers: [
        container('region', { env: [{ name: 'AWS_REGION', value: 'us-east-1' }] }),
        container('role', { env: [{ name: 'AWS_ROLE_ARN', value: 'arn:aws:iam::1:role/own' }] }),
        container('sts', { env: [{ name: 'AWS_STS_REGIONAL_ENDPOINTS', value: 'legacy' }] }),
      ],
    }),
    warnings: [/container role keeps its own AWS_ROLE_ARN/],
    check: (patched) => {
      const c = byName(patched);
      expect(envOf(c.region!)).toEqual({
        AWS_REGION: 'us-east-1',
        AWS_STS_REGIONAL_ENDPOINTS: 'regional',
        AWS_ROLE_ARN: ROLE,
        AWS_WEB_IDENTITY_TOKEN_FILE: AWS_TOKEN,
      });
      expect(envOf(c.role!)).toEqual({
        AWS_ROLE_ARN: 'arn:aws:iam::1:role/own',
        AWS_STS_REGIONAL_ENDPOINTS: 'regional',
        AWS_DEFAULT_REGION: 'eu-west-1',
        AWS_REGION: 'eu-west-1',
      });
      expect(envOf(c.sts!).AWS_STS_REGIONAL_ENDPOINTS).toBe('legacy');
    },
  },
  // rawPodHasTokenVolume / rawPodHasVolumeMount: an existing aws-iam-token is the pod's own.
  {
    name: 'AWS: a volume and a mount named aws-iam-token already there are kept as they are',
    pod: pod('aws', {
      volumes: [
        {
          name: 'aws-iam-token',
          projected: {
            sources: [{ serviceAccountToken: { audience: 'mine', path: 'token' } }],
          },
        },
      ],
      containers: [
        container('app', {
          volumeMounts: [{ name: 'aws-iam-token', mountPath: '/custom', readOnly: true }],
        }),
        container('other'),
      ],
    }),
    warnings: [/volume aws-iam-token already exists and is kept as it is/],
    check: (patched) => {
      expect(tokenOf(patched, 'aws-iam-token').audience).toBe('mine');
      const c = byName(patched);
      expect(c.app!.volumeMounts).toEqual([
        { name: 'aws-iam-token', mountPath: '/custom', readOnly: true },
      ]);
      expect(c.other!.volumeMounts).toEqual([
        { name: 'aws-iam-token', mountPath: AWS_DIR, readOnly: true },
      ]);
    },
  },
  // windowsPodWithoutVolumes.
  {
    name: 'AWS: a Windows pod gets Windows paths',
    pod: pod('aws', { nodeSelector: { 'kubernetes.io/os': 'windows' } }),
    check: (patched) => {
      const c = patched.spec.containers[0]!;
      expect(envOf(c).AWS_WEB_IDENTITY_TOKEN_FILE).toBe(
        'C:\\var\\run\\secrets\\eks.amazonaws.com\\serviceaccount\\token',
      );
      expect(c.volumeMounts![0]!.mountPath).toBe(
        'C:\\var\\run\\secrets\\eks.amazonaws.com\\serviceaccount',
      );
    },
  },

  // azure-workload-identity.
  {
    name: 'Azure: the label opt-in gives the exact minimal patch of the upstream webhook',
    pod: azurePod('azure'),
    warnings: [],
    patch: [
      {
        op: 'add',
        path: '/spec/volumes',
        value: [
          {
            name: 'azure-identity-token',
            projected: {
              sources: [
                {
                  serviceAccountToken: {
                    audience: 'api://AzureADTokenExchange',
                    expirationSeconds: 3600,
                    path: 'azure-identity-token',
                  },
                },
              ],
              defaultMode: 0o644,
            },
          },
        ],
      },
      {
        op: 'add',
        path: '/spec/containers/0/volumeMounts',
        value: [{ name: 'azure-identity-token', mountPath: AZ_DIR, readOnly: true }],
      },
      {
        op: 'add',
        path: '/spec/containers/0/env',
        value: [
          { name: 'AZURE_CLIENT_ID', value: CLIENT },
          { name: 'AZURE_TENANT_ID', value: TENANT },
          { name: 'AZURE_FEDERATED_TOKEN_FILE', value: AZ_TOKEN },
          { name: 'AZURE_AUTHORITY_HOST', value: 'https://login.microsoftonline.com/' },
        ],
      },
    ],
  },
  {
    name: 'Azure: without the label an annotated ServiceAccount asks for nothing',
    pod: pod('azure'),
    patch: 'none',
  },
  {
    name: 'Azure: the label must say "true"',
    pod: pod('azure', {}, { labels: { 'azure.workload.identity/use': 'false' } }),
    patch: 'none',
  },
  {
    name: "Azure: the tenant comes from the webhook's flag when the ServiceAccount names none",
    pod: azurePod('azure-default-tenant'),
    check: (patched) =>
      expect(envOf(patched.spec.containers[0]!).AZURE_TENANT_ID).toBe(DEFAULT_TENANT),
  },
  {
    name: 'Azure: no client-id: no AZURE_CLIENT_ID (never an empty variable), with a warning',
    pod: azurePod('azure-no-client'),
    warnings: [/has no azure\.workload\.identity\/client-id/],
    check: (patched) => {
      const env = envOf(patched.spec.containers[0]!);
      expect(env.AZURE_CLIENT_ID).toBeUndefined();
      expect(env.AZURE_FEDERATED_TOKEN_FILE).toBe(AZ_TOKEN);
    },
  },
  {
    name: 'Azure: expiration from the ServiceAccount, and the pod annotation over it',
    pod: azurePod(
      'azure-tuned',
      {},
      { annotations: { 'azure.workload.identity/service-account-token-expiration': '4000' } },
    ),
    check: (patched) =>
      expect(tokenOf(patched, 'azure-identity-token').expirationSeconds).toBe(4000),
  },
  {
    name: 'Azure: the ServiceAccount expiration applies when the pod sets none',
    pod: azurePod('azure-tuned'),
    check: (patched) =>
      expect(tokenOf(patched, 'azure-identity-token').expirationSeconds).toBe(7200),
  },
  {
    name: 'Azure: skip-containers (semicolon-separated) leaves those containers alone',
    pod: azurePod(
      'azure',
      { containers: [container('app'), container('a'), container('b')] },
      { annotations: { 'azure.workload.identity/skip-containers': 'a; b' } },
    ),
    check: (patched) => {
      const c = byName(patched);
      expect(c.a).toEqual(container('a'));
      expect(c.b).toEqual(container('b'));
      expect(envOf(c.app!).AZURE_CLIENT_ID).toBe(CLIENT);
    },
  },
  {
    name: 'Azure: variables the container sets are kept, one by one',
    pod: azurePod('azure', {
      containers: [
        container('app', {
          env: [
            { name: 'AZURE_CLIENT_ID', value: 'own' },
            { name: 'AZURE_AUTHORITY_HOST', value: 'https://login.microsoftonline.us/' },
          ],
        }),
      ],
    }),
    warnings: [/container app keeps its own AZURE_CLIENT_ID/],
    check: (patched) =>
      expect(envOf(patched.spec.containers[0]!)).toEqual({
        AZURE_CLIENT_ID: 'own',
        AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us/',
        AZURE_TENANT_ID: TENANT,
        AZURE_FEDERATED_TOKEN_FILE: AZ_TOKEN,
      }),
  },
  {
    name: 'Azure: a volume named azure-identity-token is replaced, as upstream, with a warning',
    pod: azurePod('azure', { volumes: [{ name: 'azure-identity-token', emptyDir: {} }] }),
    warnings: [/volume azure-identity-token replaced/],
    check: (patched) =>
      expect(tokenOf(patched, 'azure-identity-token').audience).toBe('api://AzureADTokenExchange'),
  },

  // All three.
  {
    name: 'all three clouds on one ServiceAccount: every container gets all three, by additions only',
    pod: azurePod('all', {
      initContainers: [container('proxy', { restartPolicy: 'Always' })],
      containers: [container('app'), container('worker', { env: [{ name: 'X', value: '1' }] })],
    }),
    warnings: [],
    check: (patched, answer) => {
      expect(patched.spec.volumes!.map((v) => v.name)).toEqual([
        'gcp-iam-token',
        'external-credential-config',
        'cloudsdk-config',
        'aws-iam-token',
        'azure-identity-token',
      ]);
      for (const c of allContainers(patched)) {
        expect(envOf(c)).toMatchObject({
          GOOGLE_APPLICATION_CREDENTIALS: CONFIG_PATH,
          AWS_ROLE_ARN: ROLE,
          AWS_WEB_IDENTITY_TOKEN_FILE: AWS_TOKEN,
          AZURE_CLIENT_ID: CLIENT,
          AZURE_FEDERATED_TOKEN_FILE: AZ_TOKEN,
          AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.com/',
        });
        expect(mounts(c)).toEqual([
          'gcp-iam-token',
          'external-credential-config',
          'cloudsdk-config',
          'aws-iam-token',
          'azure-identity-token',
        ]);
      }
      expect(byName(patched).proxy!.restartPolicy).toBe('Always');
      expect(envOf(byName(patched).worker!).X).toBe('1');
      expect(answer.patch!.every((op) => op.op === 'add')).toBe(true);
      // One operation per list: the variables of all three clouds arrive in one add.
      expect(answer.patch!.filter((op) => op.path === '/spec/containers/0/env')).toHaveLength(1);
    },
  },
  {
    name: 'all three: each skip-containers annotation applies to its own cloud only',
    pod: azurePod(
      'all',
      { containers: [container('app'), container('no-aws'), container('no-azure')] },
      {
        annotations: {
          'eks.amazonaws.com/skip-containers': 'no-aws',
          'azure.workload.identity/skip-containers': 'no-azure',
        },
      },
    ),
    check: (patched) => {
      const c = byName(patched);
      expect(mounts(c['no-aws']!)).not.toContain('aws-iam-token');
      expect(mounts(c['no-aws']!)).toContain('azure-identity-token');
      expect(envOf(c['no-aws']!).GOOGLE_APPLICATION_CREDENTIALS).toBeDefined();
      expect(envOf(c['no-azure']!).AZURE_CLIENT_ID).toBeUndefined();
      expect(envOf(c['no-azure']!).AWS_ROLE_ARN).toBe(ROLE);
    },
  },
  {
    name: 'all three through a broker: Google token_url, AWS_ENDPOINT_URL_STS, AZURE_AUTHORITY_HOST',
    pod: azurePod('all-brokered'),
    check: (patched) => {
      const env = envOf(patched.spec.containers[0]!);
      expect(env.AWS_ENDPOINT_URL_STS).toBe('https://broker.example.com/aws/sts');
      expect(env.AZURE_AUTHORITY_HOST).toBe('https://broker.example.com/azure/');
      const config = JSON.parse(
        patched.metadata.annotations!['cloud.google.com/external-credentials-json']!,
      ) as { token_url: string };
      expect(config.token_url).toBe('https://broker.example.com/v1/token');
    },
  },
  {
    name: 'all three on a Windows pod: Windows paths for every cloud',
    pod: azurePod('all', { os: { name: 'windows' } }),
    check: (patched) => {
      const env = envOf(patched.spec.containers[0]!);
      expect(env.AWS_WEB_IDENTITY_TOKEN_FILE).toMatch(/^C:\\var\\run\\secrets\\eks/);
      expect(env.AZURE_FEDERATED_TOKEN_FILE).toBe(
        'C:\\var\\run\\secrets\\azure\\tokens\\azure-identity-token',
      );
      expect(env.GOOGLE_APPLICATION_CREDENTIALS).toMatch(/^C:\\/);
    },
  },
];

/** Hostile annotations, each on a ServiceAccount of its own (bad-0, bad-1, …). */
interface AnnotationRefusal {
  name: string;
  annotations?: Record<string, string>;
  podAnnotations?: Record<string, string>;
  message: RegExp[];
}

const long = 'x'.repeat(10_000);
const refusals: AnnotationRefusal[] = [
  ...[
    'arn:aws:iam::1234:role/short-account',
    'arn:aws:iam::123456789012:user/bob',
    'arn:aws:s3:::my-bucket',
    'role/s3-reader',
    'arn:aws:iam::123456789012:role/has space',
    'arn:aws:iam::123456789012:role/',
    `arn:aws:iam::123456789012:role/${long}`,
    'arn:aws:iam::123456789012:role/a\u0000b',
  ].map((value) => ({
    name: `a malformed role ARN ${JSON.stringify(value.slice(0, 50))}`,
    annotations: { 'eks.amazonaws.com/role-arn': value },
    message: [
      /annotation eks\.amazonaws\.com\/role-arn/,
      /is not an IAM role ARN/,
      /kubectl annotate serviceaccount -n apps bad-\d+ --overwrite eks\.amazonaws\.com\/role-arn=arn:aws:iam::123456789012:role\/my-role/,
    ],
  })),
  ...[
    'not-a-guid',
    '{3f2504e0-4f89-41d3-9a0c-0305e82c3301}',
    '3f2504e0-4f89-41d3-9a0c-0305e82c3301x',
    '3f2504e04f8941d39a0c0305e82c3301',
    'ｆｆｆｆｆｆｆｆ-4f89-41d3-9a0c-0305e82c3301',
    long,
  ].map((value) => ({
    name: `a client id that is not a GUID ${JSON.stringify(value.slice(0, 40))}`,
    annotations: { 'azure.workload.identity/client-id': value },
    message: [/azure\.workload\.identity\/client-id/, /is not a client id \(a GUID/],
  })),
  {
    name: 'a tenant that is neither a GUID nor a domain',
    annotations: { ...azure, 'azure.workload.identity/tenant-id': 'my tenant' },
    message: [/azure\.workload\.identity\/tenant-id "my tenant" is not a tenant/],
  },
  ...['abc', '-1', '1e5', '1h', '99999999999'].map((value) => ({
    name: `an AWS token-expiration ${value} on the ServiceAccount`,
    annotations: { ...aws, 'eks.amazonaws.com/token-expiration': value },
    message: [/eks\.amazonaws\.com\/token-expiration/, /seconds/],
  })),
  {
    name: 'an AWS token-expiration that is not a number, on the pod',
    annotations: aws,
    podAnnotations: { 'eks.amazonaws.com/token-expiration': 'soon' },
    message: [/pod annotation eks\.amazonaws\.com\/token-expiration "soon"/],
  },
  ...['100', '3599', '86401', '90000', 'abc', ''].map((value) => ({
    name: `an Azure expiration ${JSON.stringify(value)} outside 3600-86400`,
    annotations: { ...azure, 'azure.workload.identity/service-account-token-expiration': value },
    message: [/service-account-token-expiration/, /3600 to 86400/],
  })),
  {
    name: 'an Azure expiration out of range on the pod',
    annotations: azure,
    podAnnotations: { 'azure.workload.identity/service-account-token-expiration': '60' },
    message: [/pod annotation azure\.workload\.identity\/service-account-token-expiration 60s/],
  },
  {
    name: 'sts-regional-endpoints that is not a boolean',
    annotations: { ...aws, 'eks.amazonaws.com/sts-regional-endpoints': 'yes' },
    message: [/sts-regional-endpoints "yes" must be "true" or "false"/],
  },
  {
    name: 'an AWS audience with spaces',
    annotations: { ...aws, 'eks.amazonaws.com/audience': 'two words' },
    message: [/eks\.amazonaws\.com\/audience "two words"/],
  },
  {
    name: 'a broker token_url shared by AWS and Azure, said once',
    annotations: { ...aws, ...azure, 'idbridge.dev/token-url': 'https://broker.example.com/x' },
    message: [/idbridge\.dev\/token-url.*must end in \/v1\/token/],
  },
  {
    name: 'problems of two clouds at once',
    annotations: {
      'eks.amazonaws.com/role-arn': 'nope',
      'azure.workload.identity/client-id': 'nope',
      'cloud.google.com/workload-identity-provider': PROVIDER,
      'cloud.google.com/service-account-email': 'bad@example.com',
    },
    message: [/role-arn "nope"/, /client-id "nope"/, /service-account-email "bad@example\.com"/],
  },
];

describe('webhook: AWS, Azure and all three clouds', () => {
  const webhook = useWebhook({
    serviceAccounts: [
      ...serviceAccounts,
      ...refusals.map((refusal, i) => sa(`bad-${i}`, refusal.annotations ?? {})),
    ],
    env: {
      IDBRIDGE_WEBHOOK_AWS_REGION: 'eu-west-1',
      IDBRIDGE_WEBHOOK_AZURE_TENANT_ID: DEFAULT_TENANT,
    },
  });

  itAdmitsEach(webhook, fixtures);

  it('reinvocation after another webhook added a container: only that one gets the three clouds', async () => {
    const first = await webhook().review(azurePod('all'));
    const patched = applyAndValidate(azurePod('all'), first.patch);
    patched.spec.containers.push(container('mesh'));
    const second = await webhook().review(patched);
    expect(second.patch!.every((op) => op.path.startsWith('/spec/containers/1/'))).toBe(true);
    const final = applyAndValidate(patched, second.patch);
    expect(envOf(final.spec.containers[1]!)).toMatchObject({
      AWS_ROLE_ARN: ROLE,
      AZURE_CLIENT_ID: CLIENT,
      GOOGLE_APPLICATION_CREDENTIALS: CONFIG_PATH,
    });
  });

  itDeniesEach(
    webhook,
    refusals.map((refusal, i) => ({
      ...refusal,
      pod: azurePod(
        `bad-${i}`,
        {},
        refusal.podAnnotations ? { annotations: refusal.podAnnotations } : {},
      ),
    })),
    (message, refusal) => {
      // A hostile value is never echoed whole.
      expect(message.length).toBeLessThan(2000);
      if (refusal.name.startsWith('a broker'))
        expect(message.match(/idbridge\.dev\/token-url/g)).toHaveLength(2);
    },
  );
});

describe('the AWS and Azure decisions as plain values', () => {
  const serviceAccount = (annotations: Record<string, string>) => ({
    namespace: 'apps',
    name: 'web',
    annotations,
  });
  const defaults = {
    annotationPrefix: 'cloud.google.com/',
    tokenExpirationSeconds: 86_400,
    tokenLifetimeSeconds: 3600,
  };
  const settings = { annotationPrefix: 'cloud.google.com/', fileMode: 0o644, overwriteEnv: false };

  it("follows the cluster's broker (--token-url) for AWS and Azure, as for Google", () => {
    const input = {
      serviceAccount: serviceAccount({ ...aws, ...azure }),
      podAnnotations: {},
      podLabels: USE,
      defaults: { ...defaults, brokerUrl: 'https://broker.internal/idbridge' },
    };
    const a = resolveAws(input);
    const z = resolveAzure(input);
    expect(a.kind === 'inject' && a.plan.stsEndpoint).toBe(
      'https://broker.internal/idbridge/aws/sts',
    );
    expect(z.kind === 'inject' && z.plan.authorityHost).toBe(
      'https://broker.internal/idbridge/azure/',
    );
  });

  it('renders the environment a container gets, to drive an SDK with', () => {
    const input = {
      serviceAccount: serviceAccount({ ...aws, ...azure }),
      podAnnotations: { 'eks.amazonaws.com/skip-containers': 'b' },
      podLabels: USE,
      defaults: { ...defaults, awsRegion: 'us-west-2', azureAuthorityHost: 'https://a.example/' },
    };
    const a = resolveAws(input);
    const z = resolveAzure(input);
    if (a.kind !== 'inject' || z.kind !== 'inject') throw new Error('expected plans');
    const injections = [
      awsInjection(a.plan, 'linux', settings),
      azureInjection(z.plan, 'linux', settings),
    ];
    expect(renderContainerEnv(injections, 'a')).toEqual({
      AWS_DEFAULT_REGION: 'us-west-2',
      AWS_REGION: 'us-west-2',
      AWS_ROLE_ARN: ROLE,
      AWS_WEB_IDENTITY_TOKEN_FILE: AWS_TOKEN,
      AZURE_CLIENT_ID: CLIENT,
      AZURE_TENANT_ID: TENANT,
      AZURE_FEDERATED_TOKEN_FILE: AZ_TOKEN,
      AZURE_AUTHORITY_HOST: 'https://a.example/',
    });
    expect(Object.keys(renderContainerEnv(injections, 'b'))).toEqual([
      'AZURE_CLIENT_ID',
      'AZURE_TENANT_ID',
      'AZURE_FEDERATED_TOKEN_FILE',
      'AZURE_AUTHORITY_HOST',
    ]);
  });

  it('parses the AWS and Azure flags once, with zod, and refuses bad ones with the fix', () => {
    const config = loadWebhookConfig({
      IDBRIDGE_WEBHOOK_AWS_REGION: 'us-gov-west-1',
      IDBRIDGE_WEBHOOK_AZURE_TENANT_ID: 'contoso.onmicrosoft.com',
      IDBRIDGE_WEBHOOK_AZURE_AUTHORITY_HOST: 'https://login.microsoftonline.us/',
    });
    expect(config.defaults).toMatchObject({
      awsRegion: 'us-gov-west-1',
      azureTenantId: 'contoso.onmicrosoft.com',
      azureAuthorityHost: 'https://login.microsoftonline.us/',
    });
    expect(loadWebhookConfig({}).defaults.azureAuthorityHost).toBe(
      'https://login.microsoftonline.com/',
    );
    for (const [env, message] of [
      [
        { IDBRIDGE_WEBHOOK_AWS_REGION: 'Europe' },
        /IDBRIDGE_WEBHOOK_AWS_REGION: must be an AWS region/,
      ],
      [
        { IDBRIDGE_WEBHOOK_AZURE_TENANT_ID: 'a b' },
        /IDBRIDGE_WEBHOOK_AZURE_TENANT_ID: must be a tenant/,
      ],
      [
        { IDBRIDGE_WEBHOOK_AZURE_AUTHORITY_HOST: 'http://login.example/' },
        /IDBRIDGE_WEBHOOK_AZURE_AUTHORITY_HOST: must be an https URL/,
      ],
      [
        { IDBRIDGE_WEBHOOK_AZURE_AUTHORITY_HOST: 'https://login.example' },
        /IDBRIDGE_WEBHOOK_AZURE_AUTHORITY_HOST: must end with "\/"/,
      ],
    ] as const)
      expect(() => loadWebhookConfig(env)).toThrow(message);
  });
});
