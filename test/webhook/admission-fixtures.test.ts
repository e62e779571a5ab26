import type { Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
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
  type Refusal,
} from './fixtures.js';
import { applyAndValidate, envOf, type ContainerObject, type PodObject } from './pod-checks.js';

/**
 * The fixture table: AdmissionReviews in, JSON patches out, through the real HTTPS server and the
 * ServiceAccounts of a fake kube-apiserver. Every patch is applied with an RFC 6902 library and
 * the result validated against Kubernetes' schemas.
 */

const DEFAULT_PROVIDER =
  'projects/987654321/locations/global/workloadIdentityPools/fleet/providers/default-cluster';
const P = 'cloud.google.com/';
const CONFIG_KEY = `${P}external-credentials-json`;
const TOKEN_PATH = '/var/run/secrets/sts.googleapis.com/serviceaccount/token';

const serviceAccounts: FakeServiceAccount[] = [
  {
    namespace: 'apps',
    name: 'web',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: EMAIL,
    },
  },
  {
    namespace: 'apps',
    name: 'gke',
    annotations: {
      'iam.gke.io/gcp-service-account': 'reader@other-project.iam.gserviceaccount.com',
    },
  },
  {
    namespace: 'apps',
    name: 'direct',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      'idbridge.dev/direct-access': 'true',
      'idbridge.dev/project-id': 'direct-project',
    },
  },
  {
    namespace: 'apps',
    name: 'brokered',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: EMAIL,
      'idbridge.dev/token-url': 'https://broker.example.com/v1/token',
      'idbridge.dev/project-id': 'billing-project',
      'idbridge.dev/token-lifetime': '1800',
      [`${P}injection-mode`]: 'direct',
    },
  },
  {
    namespace: 'apps',
    name: 'tuned',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: EMAIL,
      [`${P}audience`]: 'sa-audience',
      [`${P}token-expiration`]: '7200',
    },
  },
  { namespace: 'apps', name: 'plain' },
  {
    namespace: 'apps',
    name: 'by-number',
    annotations: {
      [`${P}workload-identity-provider`]:
        'projects/my-project/locations/global/workloadIdentityPools/on-prem/providers/cluster-a',
      [`${P}service-account-email`]: EMAIL,
    },
  },
  {
    namespace: 'apps',
    name: 'bad-email',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: 'app-x@project.iam.googleapis.com',
    },
  },
  {
    namespace: 'apps',
    name: 'no-email',
    annotations: { [`${P}workload-identity-provider`]: PROVIDER },
  },
  {
    namespace: 'apps',
    name: 'two-emails',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: EMAIL,
      'iam.gke.io/gcp-service-account': 'other@my-project-1.iam.gserviceaccount.com',
    },
  },
  {
    namespace: 'apps',
    name: 'bad-lifetime',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: EMAIL,
      'idbridge.dev/token-lifetime': '99',
    },
  },
  {
    namespace: 'apps',
    name: 'bad-mode',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: EMAIL,
      [`${P}injection-mode`]: 'sidecar',
    },
  },
  {
    namespace: 'apps',
    name: 'bad-token-url',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: EMAIL,
      'idbridge.dev/token-url': 'https://user:pw@broker.example.com/token',
    },
  },
  {
    namespace: 'apps',
    name: 'bad-expiration',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      [`${P}service-account-email`]: EMAIL,
      [`${P}token-expiration`]: '1h',
    },
  },
];

const pod = (
  serviceAccountName: string | undefined,
  spec: Partial<PodObject['spec']> = {},
  metadata: Partial<PodObject['metadata']> = {},
): PodObject =>
  podOf(
    serviceAccountName,
    {
      containers: [
        container('app', {
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: { requests: { cpu: '100m' } },
        }),
      ],
      restartPolicy: 'Always',
      ...spec,
    },
    { labels: { app: 'web' }, ...metadata },
  );

/** The configuration exactly as gcloud create-cred-config writes it (compact, same order). */
const CONFIG_HEAD = {
  universe_domain: 'googleapis.com',
  type: 'external_account',
  audience: `//iam.googleapis.com/${PROVIDER}`,
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  token_url: 'https://sts.googleapis.com/v1/token',
  credential_source: { file: TOKEN_PATH, format: { type: 'text' } },
};
const expectedConfig = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    ...CONFIG_HEAD,
    service_account_impersonation_url: `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${EMAIL}:generateAccessToken`,
    service_account_impersonation: { token_lifetime_seconds: 3600 },
    ...overrides,
  });

const TYPICAL_PATCH: Operation[] = [
  { op: 'add', path: '/metadata/annotations', value: { [CONFIG_KEY]: expectedConfig() } },
  {
    op: 'add',
    path: '/spec/volumes',
    value: [
      {
        name: 'gcp-iam-token',
        projected: {
          sources: [
            {
              serviceAccountToken: {
                audience: 'sts.googleapis.com',
                expirationSeconds: 86400,
                path: 'token',
              },
            },
          ],
          defaultMode: 0o644,
        },
      },
      {
        name: 'external-credential-config',
        downwardAPI: {
          items: [
            {
              path: 'federation.json',
              fieldRef: { apiVersion: 'v1', fieldPath: `metadata.annotations['${CONFIG_KEY}']` },
            },
          ],
          defaultMode: 0o644,
        },
      },
      { name: 'cloudsdk-config', emptyDir: {} },
    ],
  },
  {
    op: 'add',
    path: '/spec/containers/0/volumeMounts',
    value: [
      {
        name: 'gcp-iam-token',
        mountPath: '/var/run/secrets/sts.googleapis.com/serviceaccount',
        readOnly: true,
      },
      {
        name: 'external-credential-config',
        mountPath: '/var/run/secrets/gcloud/config',
        readOnly: true,
      },
      { name: 'cloudsdk-config', mountPath: '/var/run/secrets/gcloud/cloudsdk' },
    ],
  },
  {
    op: 'add',
    path: '/spec/containers/0/env',
    value: [
      { name: 'GOOGLE_APPLICATION_CREDENTIALS', value: CONFIG_PATH },
      { name: 'CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE', value: CONFIG_PATH },
      { name: 'CLOUDSDK_CONFIG', value: '/var/run/secrets/gcloud/cloudsdk' },
      { name: 'GOOGLE_CLOUD_PROJECT', value: 'my-project-1' },
      { name: 'CLOUDSDK_CORE_PROJECT', value: 'my-project-1' },
    ],
  },
];

const configOf = (patched: PodObject) =>
  JSON.parse(patched.metadata.annotations![CONFIG_KEY]!) as Record<string, unknown>;
const tokenSource = (patched: PodObject) =>
  (
    patched.spec.volumes!.find((v) => v.name === 'gcp-iam-token') as unknown as {
      projected: {
        sources: Array<{ serviceAccountToken: { audience: string; expirationSeconds: number } }>;
      };
    }
  ).projected.sources[0]!.serviceAccountToken;
const hasCredentials = (c: ContainerObject) =>
  envOf(c).GOOGLE_APPLICATION_CREDENTIALS !== undefined &&
  (c.volumeMounts ?? []).some((m) => m.name === 'gcp-iam-token');

const NATIVE_SIDECAR_POD = pod('web', {
  initContainers: [
    container('migrate', { command: ['migrate', 'up'] }),
    container('proxy', { restartPolicy: 'Always', futureContainerField: { keep: true } }),
  ],
  containers: [container('app'), container('metrics', { env: [{ name: 'PORT', value: '9090' }] })],
  futureSpecField: 'kept as is',
  volumes: [{ name: 'cache', emptyDir: { medium: 'Memory' } }],
});

const fixtures: AdmissionFixture[] = [
  {
    name: 'GCP-webhook annotations on the ServiceAccount: the exact minimal patch',
    pod: pod('web'),
    patch: TYPICAL_PATCH,
    warnings: [],
  },
  {
    name: "GKE's iam.gke.io/gcp-service-account with the webhook's default provider",
    pod: pod('gke'),
    check: (patched) => {
      expect(configOf(patched)).toMatchObject({
        audience: `//iam.googleapis.com/${DEFAULT_PROVIDER}`,
        service_account_impersonation_url:
          'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/reader@other-project.iam.gserviceaccount.com:generateAccessToken',
      });
      // A provider from the cluster default is asked for a token with its own name as audience.
      expect(tokenSource(patched).audience).toBe(`//iam.googleapis.com/${DEFAULT_PROVIDER}`);
      expect(envOf(patched.spec.containers[0]!).GOOGLE_CLOUD_PROJECT).toBe('other-project');
    },
  },
  {
    name: 'direct principal access: no impersonation URL, token_info_url for gcloud',
    pod: pod('direct'),
    check: (patched) => {
      expect(patched.metadata.annotations![CONFIG_KEY]).toBe(
        JSON.stringify({
          ...CONFIG_HEAD,
          token_info_url: 'https://sts.googleapis.com/v1/introspect',
        }),
      );
      expect(envOf(patched.spec.containers[0]!)).toMatchObject({
        GOOGLE_CLOUD_PROJECT: 'direct-project',
        CLOUDSDK_CORE_PROJECT: 'direct-project',
      });
    },
  },
  {
    name: "broker token_url, project and impersonated lifetime from idbridge's keys",
    pod: pod('brokered'),
    check: (patched) => {
      expect(patched.metadata.annotations![CONFIG_KEY]).toBe(
        expectedConfig({
          token_url: 'https://broker.example.com/v1/token',
          service_account_impersonation_url: `https://broker.example.com/v1/projects/-/serviceAccounts/${EMAIL}:generateAccessToken`,
          service_account_impersonation: { token_lifetime_seconds: 1800 },
        }),
      );
      expect(envOf(patched.spec.containers[0]!)).toMatchObject({
        GOOGLE_CLOUD_PROJECT: 'billing-project',
        CLOUDSDK_CORE_PROJECT: 'billing-project',
      });
    },
  },
  {
    name: 'ServiceAccount audience and expiration apply when the pod sets none',
    pod: pod('tuned'),
    check: (patched) =>
      expect(tokenSource(patched)).toEqual({
        audience: 'sa-audience',
        expirationSeconds: 7200,
        path: 'token',
      }),
  },
  {
    name: 'pod annotations override the ServiceAccount (audience, expiration)',
    pod: pod(
      'tuned',
      {},
      {
        annotations: {
          [`${P}audience`]: 'pod-audience',
          [`${P}token-expiration`]: '3600',
          unrelated: 'kept',
        },
      },
    ),
    check: (patched) => {
      expect(tokenSource(patched)).toEqual({
        audience: 'pod-audience',
        expirationSeconds: 3600,
        path: 'token',
      });
      expect(patched.metadata.annotations!.unrelated).toBe('kept');
    },
  },
  {
    name: "an expiration under Kubernetes' minimum is raised, with a warning",
    pod: pod('web', {}, { annotations: { [`${P}token-expiration`]: '60' } }),
    warnings: [/token-expiration 60s raised to 600s/],
    check: (patched) => expect(tokenSource(patched).expirationSeconds).toBe(600),
  },
  {
    name: 'an expiration Google STS would refuse (48 h or more) is lowered, with a warning',
    pod: pod('web', {}, { annotations: { [`${P}token-expiration`]: '604800' } }),
    warnings: [/lowered to 172799s/],
    check: (patched) => expect(tokenSource(patched).expirationSeconds).toBe(172_799),
  },
  {
    name: 'skip-containers (commas and semicolons) leaves those containers alone',
    pod: pod(
      'web',
      {
        initContainers: [container('init-db')],
        containers: [container('app'), container('sidecar'), container('other')],
      },
      { annotations: { [`${P}skip-containers`]: 'sidecar; init-db ,ghost' } },
    ),
    warnings: [/skip-containers names "ghost"/],
    check: (patched) => {
      const byName = Object.fromEntries(allContainers(patched).map((c) => [c.name, c]));
      expect(hasCredentials(byName.app!)).toBe(true);
      expect(hasCredentials(byName.other!)).toBe(true);
      expect(byName.sidecar).toEqual(container('sidecar'));
      expect(byName['init-db']).toEqual(container('init-db'));
    },
  },
  {
    name: 'init containers and native sidecars get credentials; unknown fields and restartPolicy survive',
    pod: NATIVE_SIDECAR_POD,
    check: (patched, answer) => {
      expect(allContainers(patched).every(hasCredentials)).toBe(true);
      expect(patched.spec.initContainers![1]).toMatchObject({
        restartPolicy: 'Always',
        futureContainerField: { keep: true },
      });
      expect(patched.spec.futureSpecField).toBe('kept as is');
      expect(patched.spec.volumes![0]).toEqual({ name: 'cache', emptyDir: { medium: 'Memory' } });
      expect(envOf(patched.spec.containers[1]!).PORT).toBe('9090');
      // Minimal: only additions, appended after what was there.
      expect(answer.patch!.every((op) => op.op === 'add')).toBe(true);
      expect(
        answer.patch!.filter((op) => op.path.startsWith('/spec/volumes')).map((op) => op.path),
      ).toEqual(['/spec/volumes/-', '/spec/volumes/-', '/spec/volumes/-']);
      expect(answer.patch).toContainEqual({
        op: 'add',
        path: '/spec/containers/1/env/-',
        value: { name: 'GOOGLE_APPLICATION_CREDENTIALS', value: CONFIG_PATH },
      });
    },
  },
  {
    name: 'variables the user set are kept (with a warning for the credential file)',
    pod: pod('web', {
      containers: [
        container('app', {
          env: [
            { name: 'GOOGLE_APPLICATION_CREDENTIALS', value: '/custom/key.json' },
            {
              name: 'GOOGLE_CLOUD_PROJECT',
              valueFrom: { configMapKeyRef: { name: 'cfg', key: 'project' } },
            },
          ],
        }),
      ],
    }),
    warnings: [/container app keeps its own GOOGLE_APPLICATION_CREDENTIALS/],
    check: (patched) => {
      const c = patched.spec.containers[0]!;
      expect(envOf(c).GOOGLE_APPLICATION_CREDENTIALS).toBe('/custom/key.json');
      expect(c.env!.find((e) => e.name === 'GOOGLE_CLOUD_PROJECT')).toEqual({
        name: 'GOOGLE_CLOUD_PROJECT',
        valueFrom: { configMapKeyRef: { name: 'cfg', key: 'project' } },
      });
      expect(envOf(c)).toMatchObject({
        CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE: CONFIG_PATH,
        CLOUDSDK_CORE_PROJECT: 'my-project-1',
      });
    },
  },
  {
    name: 'Windows pods (spec.os.name) get Windows paths, in the mounts, the variables and the configuration',
    pod: pod('web', { os: { name: 'windows' }, nodeSelector: { 'kubernetes.io/os': 'windows' } }),
    check: (patched) => {
      const c = patched.spec.containers[0]!;
      expect(envOf(c)).toMatchObject({
        GOOGLE_APPLICATION_CREDENTIALS: 'C:\\var\\run\\secrets\\gcloud\\config\\federation.json',
        CLOUDSDK_CONFIG: 'C:\\var\\run\\secrets\\gcloud\\cloudsdk',
      });
      expect(c.volumeMounts!.map((m) => m.mountPath)).toEqual([
        'C:\\var\\run\\secrets\\sts.googleapis.com\\serviceaccount',
        'C:\\var\\run\\secrets\\gcloud\\config',
        'C:\\var\\run\\secrets\\gcloud\\cloudsdk',
      ]);
      expect(configOf(patched).credential_source).toEqual({
        file: 'C:\\var\\run\\secrets\\sts.googleapis.com\\serviceaccount\\token',
        format: { type: 'text' },
      });
    },
  },
  {
    name: 'a mount path the user already uses is left to the user (no duplicate mount), with a warning',
    pod: pod('web', {
      volumes: [{ name: 'mine', emptyDir: {} }],
      containers: [
        container('app', {
          volumeMounts: [{ name: 'mine', mountPath: '/var/run/secrets/gcloud/cloudsdk' }],
        }),
      ],
    }),
    warnings: [/already mounts something at \/var\/run\/secrets\/gcloud\/cloudsdk/],
    check: (patched) =>
      expect(
        patched.spec.containers[0]!.volumeMounts!.filter(
          (m) => m.mountPath === '/var/run/secrets/gcloud/cloudsdk',
        ),
      ).toEqual([{ name: 'mine', mountPath: '/var/run/secrets/gcloud/cloudsdk' }]),
  },
  {
    name: 'a ServiceAccount without annotations: admitted unchanged',
    pod: pod('plain'),
    patch: 'none',
    warnings: [],
  },
  {
    name: 'a pod without a ServiceAccount (mirror pod): admitted unchanged',
    pod: pod(undefined),
    patch: 'none',
    warnings: [],
  },
  {
    name: 'the opt-out label: admitted unchanged',
    pod: pod('web', {}, { labels: { 'idbridge.dev/inject': 'false' } }),
    patch: 'none',
    warnings: [],
  },
  {
    name: 'a missing ServiceAccount: admitted unmutated with a warning',
    pod: pod('does-not-exist'),
    patch: 'none',
    warnings: [
      /ServiceAccount apps\/does-not-exist not found.*kubectl create serviceaccount -n apps does-not-exist/,
    ],
  },
];

const refusals: Refusal[] = [
  {
    name: 'a provider named by project id',
    pod: pod('by-number'),
    message: [
      /annotation cloud\.google\.com\/workload-identity-provider/,
      /project NUMBER/,
      /kubectl annotate serviceaccount -n apps by-number --overwrite/,
    ],
  },
  {
    name: 'a service account email outside iam.gserviceaccount.com',
    pod: pod('bad-email'),
    message: [
      /annotation cloud\.google\.com\/service-account-email "app-x@project\.iam\.googleapis\.com"/,
      /NAME@PROJECT_ID\.iam\.gserviceaccount\.com/,
    ],
  },
  {
    name: 'a provider without a service account or direct access',
    pod: pod('no-email'),
    message: [/no Google service account/, /idbridge\.dev\/direct-access="true"/],
  },
  {
    name: 'two different service accounts',
    pod: pod('two-emails'),
    message: [/name different Google service accounts; remove one/],
  },
  {
    name: 'an impersonated lifetime outside IAM Credentials’ range',
    pod: pod('bad-lifetime'),
    message: [/idbridge\.dev\/token-lifetime "99"/, /600 to 43200/],
  },
  {
    name: 'an unknown injection mode',
    pod: pod('bad-mode'),
    message: [/injection-mode "sidecar" must be "direct" or "gcloud"/],
  },
  {
    name: 'a token_url with credentials and the wrong path',
    pod: pod('bad-token-url'),
    message: [/idbridge\.dev\/token-url/, /must not contain credentials/],
  },
  {
    name: 'a non-numeric expiration on the ServiceAccount',
    pod: pod('bad-expiration'),
    message: [/token-expiration "1h" must be a whole number of seconds/],
  },
  {
    name: 'a non-numeric expiration on the pod',
    pod: pod('web', {}, { annotations: { [`${P}token-expiration`]: '-5' } }),
    message: [/pod annotation cloud\.google\.com\/token-expiration "-5"/],
  },
  {
    name: 'an audience with spaces on the pod',
    pod: pod('web', {}, { annotations: { [`${P}audience`]: 'two words' } }),
    message: [/pod annotation cloud\.google\.com\/audience "two words"/],
  },
];

describe('admission fixtures: reviews in, patches out, pods valid', () => {
  const webhook = useWebhook({
    serviceAccounts,
    env: { IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER: DEFAULT_PROVIDER },
  });

  itAdmitsEach(webhook, fixtures, { envelope: true });

  it('reinvocation after another webhook added a container: only that container is patched', async () => {
    const first = await webhook().review(pod('web'));
    const patched = applyAndValidate(pod('web'), first.patch);
    patched.spec.containers.push(
      container('injected-by-mesh', { env: [{ name: 'MESH', value: 'on' }] }),
    );
    const second = await webhook().review(patched);
    expect(second.patch!.length).toBeGreaterThan(0);
    expect(second.patch!.every((op) => op.path.startsWith('/spec/containers/1/'))).toBe(true);
    const final = applyAndValidate(patched, second.patch);
    expect(hasCredentials(final.spec.containers[1]!)).toBe(true);
    expect(envOf(final.spec.containers[1]!).MESH).toBe('on');
  });

  itDeniesEach(webhook, refusals);

  it('passes updates and other kinds through untouched', async () => {
    expect((await webhook().review(pod('web'), { operation: 'UPDATE' })).patch).toBeUndefined();
    const other = await webhook().review(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } },
      { kind: { group: '', version: 'v1', kind: 'ConfigMap' } },
    );
    expect(other.review.response).toEqual({ uid: other.review.response.uid, allowed: true });
  });
});
