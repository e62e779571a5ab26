import type { Operation } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../../src/webhook/config.js';
import { parseProvider } from '../../src/credentials/credential-config.js';
import {
  chooseMetadataServer,
  METADATA_SIDECAR_NAME,
  type MetadataServerSettings,
} from '../../src/webhook/metadata-server.js';
import { mutatePod } from '../../src/webhook/pod-mutation.js';
import type { FakeServiceAccount } from '../fakes/kube-serviceaccounts.js';
import { startWebhookHarness, type WebhookHarness } from '../support/webhook.js';
import { CONFIG_PATH, container, EMAIL, podOf, PROVIDER, useWebhook } from './fixtures.js';
import { applyAndValidate, envOf, type ContainerObject, type PodObject } from './pod-checks.js';

/**
 * Issue #13, the webhook side: `idbridge.dev/metadata-server` and `--metadata-server` wire pods to
 * `idbridge metadata-server`, as a native sidecar on loopback or pointed at the node's DaemonSet.
 * Reviews go through the real HTTPS server; every patch is applied with an RFC 6902 library and
 * the pod validated against Kubernetes' schema, then reviewed again (reinvocation) for nothing.
 */

const P = 'cloud.google.com/';
const IMAGE = 'registry.example.com/idbridge/webhook:0.1.0';
const ANNOTATION = 'idbridge.dev/metadata-server';
const DIRECT = { 'idbridge.dev/direct-access': 'true' };
const WIF = { [`${P}workload-identity-provider`]: PROVIDER, [`${P}service-account-email`]: EMAIL };

const serviceAccounts: FakeServiceAccount[] = [
  { namespace: 'apps', name: 'web', annotations: WIF },
  { namespace: 'apps', name: 'meta', annotations: { ...WIF, [ANNOTATION]: 'true' } },
  { namespace: 'apps', name: 'meta-node', annotations: { ...WIF, [ANNOTATION]: 'node' } },
  { namespace: 'apps', name: 'meta-typo', annotations: { ...WIF, [ANNOTATION]: 'yes' } },
  { namespace: 'apps', name: 'plain', annotations: { [ANNOTATION]: 'true' } },
  // Direct access: the provider only, no Google service account to read a project from.
  {
    namespace: 'apps',
    name: 'direct',
    annotations: { [`${P}workload-identity-provider`]: PROVIDER, ...DIRECT, [ANNOTATION]: 'true' },
  },
  {
    namespace: 'apps',
    name: 'direct-project',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      ...DIRECT,
      [ANNOTATION]: 'true',
      'idbridge.dev/project-id': 'pool-project-7',
    },
  },
  {
    namespace: 'apps',
    name: 'direct-number',
    annotations: {
      [`${P}workload-identity-provider`]: PROVIDER,
      ...DIRECT,
      [ANNOTATION]: 'true',
      [`${P}project`]: '123456789',
    },
  },
  {
    namespace: 'apps',
    name: 'direct-quiet',
    annotations: { [`${P}workload-identity-provider`]: PROVIDER, ...DIRECT },
  },
];

const pod = (
  serviceAccountName: string,
  spec: Partial<PodObject['spec']> = {},
  annotations?: Record<string, string>,
) =>
  podOf(
    serviceAccountName,
    { restartPolicy: 'Never', ...spec },
    annotations ? { annotations } : {},
  );

const LOOPBACK = {
  GCE_METADATA_HOST: '127.0.0.1:8988',
  GCE_METADATA_ROOT: '127.0.0.1:8988',
  GCE_METADATA_IP: '127.0.0.1:8988',
};
const sidecarOf = (patched: PodObject) =>
  patched.spec.initContainers?.find((c) => c.name === METADATA_SIDECAR_NAME);
const metadataVariables = (c: ContainerObject) =>
  Object.fromEntries(Object.entries(envOf(c)).filter(([name]) => name.startsWith('GCE_METADATA_')));

async function admitTwice(
  webhook: WebhookHarness,
  input: PodObject,
): Promise<{ patched: PodObject; patch: Operation[]; warnings: string[] }> {
  const answer = await webhook.review(input);
  expect(answer.review.response.allowed).toBe(true);
  expect(answer.patch).toBeDefined();
  const patched = applyAndValidate(input, answer.patch);
  // Reinvocation, and a second admission of what kube-apiserver stored: nothing more to add.
  const again = await webhook.review(patched);
  expect(again.review.response.allowed).toBe(true);
  expect(again.patch).toBeUndefined();
  return { patched, patch: answer.patch!, warnings: answer.review.response.warnings ?? [] };
}

describe('metadata server injection (--metadata-server=annotated)', () => {
  const webhook = useWebhook({
    serviceAccounts,
    env: { IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE: IMAGE },
  });

  it('a pod whose ServiceAccount does not ask gets credential files only, as before', async () => {
    const { patched } = await admitTwice(webhook(), pod('web'));
    expect(patched.spec.initContainers).toBeUndefined();
    expect(metadataVariables(patched.spec.containers[0]!)).toEqual({});
  });

  it('a ServiceAccount annotated "true": a native sidecar on loopback:8988 (unprivileged) with the mounted configuration, probes and a locked-down context', async () => {
    const { patched, patch } = await admitTwice(webhook(), pod('meta'));
    expect(patch.at(-1)).toMatchObject({ op: 'add', path: '/spec/initContainers' });
    const sidecar = sidecarOf(patched)!;
    expect(sidecar).toMatchObject({
      image: IMAGE,
      restartPolicy: 'Always',
      args: [
        'metadata-server',
        '--credential-config',
        CONFIG_PATH,
        '--host',
        '127.0.0.1',
        '--port',
        '8988',
        // From the email: the server answers project/project-id with the injected GOOGLE_CLOUD_PROJECT.
        '--project-id',
        'my-project-1',
      ],
      resources: { requests: { cpu: '10m', memory: '48Mi' }, limits: { memory: '128Mi' } },
      securityContext: {
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      },
    });
    expect(
      (sidecar.securityContext as { capabilities: Record<string, unknown> }).capabilities.add,
    ).toBeUndefined();
    // The same projected token and configuration the app containers mount, read-only.
    const appMounts = patched.spec.containers[0]!.volumeMounts!;
    expect(sidecar.volumeMounts).toEqual(appMounts.filter((m) => m.name !== 'cloudsdk-config'));
    for (const probe of ['startupProbe', 'readinessProbe'] as const) {
      expect((sidecar[probe] as { exec: { command: string[] } }).exec.command.join(' ')).toContain(
        'http://127.0.0.1:8988/readyz',
      );
    }
    expect(metadataVariables(patched.spec.containers[0]!)).toEqual(LOOPBACK);
    expect(envOf(patched.spec.containers[0]!).GOOGLE_APPLICATION_CREDENTIALS).toBe(CONFIG_PATH);
  });

  it('goes first among init containers; init containers and native sidecars get the variables; only additions', async () => {
    const input = pod(
      'web',
      {
        initContainers: [container('migrate'), container('proxy', { restartPolicy: 'Always' })],
        containers: [
          container('app'),
          container('metrics', { env: [{ name: 'PORT', value: '9090' }] }),
        ],
      },
      { [ANNOTATION]: 'true' },
    );
    const { patched, patch } = await admitTwice(webhook(), input);
    expect(patched.spec.initContainers!.map((c) => c.name)).toEqual([
      METADATA_SIDECAR_NAME,
      'migrate',
      'proxy',
    ]);
    expect(patch.every((op) => op.op === 'add')).toBe(true);
    // The insertion is the last operation: the ones before still point at the original indices.
    expect(patch.at(-1)).toMatchObject({ op: 'add', path: '/spec/initContainers/0' });
    for (const c of [...patched.spec.initContainers!.slice(1), ...patched.spec.containers])
      expect(metadataVariables(c), c.name).toEqual(LOOPBACK);
    expect(patched.spec.initContainers![2]!.restartPolicy).toBe('Always');
    expect(envOf(patched.spec.containers[1]!).PORT).toBe('9090');
  });

  it('skip-containers stay untouched; variables a container sets are kept, with a warning', async () => {
    const input = pod(
      'meta',
      {
        containers: [
          container('app', {
            env: [{ name: 'GCE_METADATA_HOST', value: 'metadata.internal:8080' }],
          }),
          container('legacy'),
        ],
      },
      { [`${P}skip-containers`]: 'legacy' },
    );
    const { patched, warnings } = await admitTwice(webhook(), input);
    expect(patched.spec.containers[1]).toEqual(container('legacy'));
    expect(metadataVariables(patched.spec.containers[0]!)).toEqual({
      ...LOOPBACK,
      GCE_METADATA_HOST: 'metadata.internal:8080',
    });
    expect(warnings).toContainEqual(
      expect.stringMatching(/container app keeps its own GCE_METADATA_HOST/),
    );
    expect(sidecarOf(patched)).toBeDefined();
  });

  it('the pod annotation "false" wins over the ServiceAccount', async () => {
    const { patched } = await admitTwice(webhook(), pod('meta', {}, { [ANNOTATION]: 'false' }));
    expect(patched.spec.initContainers).toBeUndefined();
    expect(metadataVariables(patched.spec.containers[0]!)).toEqual({});
  });

  it('"link-local": NET_ADMIN (and port 80) for the sidecar only, and the flag that adds 169.254.169.254', async () => {
    const { patched } = await admitTwice(
      webhook(),
      pod(
        'web',
        { containers: [container('app'), container('worker')] },
        { [ANNOTATION]: 'link-local' },
      ),
    );
    const sidecar = sidecarOf(patched)!;
    expect(sidecar.args).toContain('--link-local');
    expect(sidecar.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'], add: ['NET_ADMIN', 'NET_BIND_SERVICE'] },
    });
    for (const c of patched.spec.containers) {
      expect(c.securityContext).toBeUndefined();
      expect(metadataVariables(c)).toEqual(LOOPBACK);
    }
  });

  it('Windows pods keep the credential files (Windows paths) and get no Linux sidecar, with a warning', async () => {
    const { patched, warnings } = await admitTwice(
      webhook(),
      pod('meta', { os: { name: 'windows' } }),
    );
    expect(patched.spec.initContainers).toBeUndefined();
    expect(metadataVariables(patched.spec.containers[0]!)).toEqual({});
    expect(envOf(patched.spec.containers[0]!).GOOGLE_APPLICATION_CREDENTIALS).toBe(
      'C:\\var\\run\\secrets\\gcloud\\config\\federation.json',
    );
    expect(warnings).toContainEqual(expect.stringMatching(/no metadata server for a Windows pod/));
  });

  it('"node" points every container at the node through the downward API, with no sidecar', async () => {
    const { patched } = await admitTwice(
      webhook(),
      pod('meta-node', { initContainers: [container('init')] }),
    );
    expect(sidecarOf(patched)).toBeUndefined();
    for (const c of [...patched.spec.initContainers!, ...patched.spec.containers]) {
      const names = c.env!.map((e) => e.name);
      expect(c.env!.find((e) => e.name === 'IDBRIDGE_HOST_IP')).toEqual({
        name: 'IDBRIDGE_HOST_IP',
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.hostIP' } },
      });
      // $(VAR) expands only variables defined earlier in the list.
      expect(names.indexOf('IDBRIDGE_HOST_IP')).toBeLessThan(names.indexOf('GCE_METADATA_HOST'));
      expect(metadataVariables(c)).toEqual({
        GCE_METADATA_HOST: '$(IDBRIDGE_HOST_IP):988',
        GCE_METADATA_ROOT: '$(IDBRIDGE_HOST_IP):988',
        GCE_METADATA_IP: '$(IDBRIDGE_HOST_IP):988',
      });
    }
  });

  it('a reinvocation after another webhook added a container patches only that container', async () => {
    const first = await webhook().review(pod('meta'));
    const patched = applyAndValidate(pod('meta'), first.patch);
    patched.spec.containers.push(container('mesh'));
    const second = await webhook().review(patched);
    expect(second.patch!.every((op) => op.path.startsWith('/spec/containers/1/'))).toBe(true);
    const final = applyAndValidate(patched, second.patch);
    expect(metadataVariables(final.spec.containers[1]!)).toEqual(LOOPBACK);
    expect(final.spec.initContainers!.filter((c) => c.name === METADATA_SIDECAR_NAME)).toHaveLength(
      1,
    );
  });

  it('an unknown annotation value is denied with the values it may take; a ServiceAccount without credentials gets nothing', async () => {
    const typo = await webhook().review(pod('meta-typo'));
    expect(typo.review.response).toMatchObject({ allowed: false, status: { code: 400 } });
    expect(typo.review.response.status!.message).toMatch(
      /ServiceAccount apps\/meta-typo: annotation idbridge\.dev\/metadata-server "yes" must be "true", "false", "link-local" or "node"/,
    );
    const plain = await webhook().review(pod('plain'));
    expect(plain.review.response.allowed).toBe(true);
    expect(plain.patch).toBeUndefined();
  });

  it('a direct-access ServiceAccount: its project annotation becomes --project-id; none, or a project number, is denied with the fix', async () => {
    const { patched } = await admitTwice(webhook(), pod('direct-project'));
    const args = sidecarOf(patched)!.args as string[];
    expect(args.slice(args.indexOf('--project-id'), args.indexOf('--project-id') + 2)).toEqual([
      '--project-id',
      'pool-project-7',
    ]);
    expect(envOf(patched.spec.containers[0]!).GOOGLE_CLOUD_PROJECT).toBe('pool-project-7');

    // Asked for by name, a sidecar that could not start is refused at admission, not left crash-looping.
    for (const [name, reason] of [
      ['direct', /names no Google service account to read it from/],
      ['direct-number', /"123456789" is a project number/],
    ] as const) {
      const answer = await webhook().review(pod(name));
      expect(answer.review.response, name).toMatchObject({
        allowed: false,
        status: { code: 400 },
      });
      const message = answer.review.response.status!.message!;
      expect(message).toContain(
        `ServiceAccount apps/${name}: annotation idbridge.dev/metadata-server`,
      );
      expect(message).toMatch(reason);
      expect(message).toMatch(/idbridge\.dev\/project-id: PROJECT_ID.*--default-project/);
    }
    // The pod's own annotation asks the same way.
    const fromPod = await webhook().review(pod('direct-quiet', {}, { [ANNOTATION]: 'true' }));
    expect(fromPod.review.response.status!.message).toMatch(
      /^pod annotation idbridge\.dev\/metadata-server: the metadata server sidecar needs a project id/,
    );
  });
});

describe('metadata server injection for direct access (--metadata-server=always)', () => {
  it('no project: the pod keeps its credential files, no sidecar, and a warning that names the fix; --default-project gives the sidecar its project', async () => {
    const always = {
      IDBRIDGE_WEBHOOK_METADATA_SERVER: 'always',
      IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE: IMAGE,
    };
    const bare = await startWebhookHarness({ serviceAccounts, env: always });
    try {
      const { patched, warnings } = await admitTwice(bare, pod('direct-quiet'));
      expect(sidecarOf(patched)).toBeUndefined();
      expect(metadataVariables(patched.spec.containers[0]!)).toEqual({});
      expect(envOf(patched.spec.containers[0]!).GOOGLE_APPLICATION_CREDENTIALS).toBe(CONFIG_PATH);
      expect(warnings).toContainEqual(
        expect.stringMatching(
          /^no metadata server sidecar \(no project id\): annotate the ServiceAccount idbridge\.dev\/project-id, or --default-project$/,
        ),
      );
    } finally {
      await bare.close();
    }
    const withDefault = await startWebhookHarness({
      serviceAccounts,
      env: { ...always, IDBRIDGE_WEBHOOK_DEFAULT_PROJECT: 'fleet-pool-1' },
    });
    try {
      const { patched } = await admitTwice(withDefault, pod('direct-quiet'));
      expect(sidecarOf(patched)!.args).toEqual(
        expect.arrayContaining(['--project-id', 'fleet-pool-1']),
      );
      expect(envOf(patched.spec.containers[0]!).GOOGLE_CLOUD_PROJECT).toBe('fleet-pool-1');
      expect(metadataVariables(patched.spec.containers[0]!)).toEqual(LOOPBACK);
      // An annotation still wins over the default, and an email's project too.
      const annotated = await admitTwice(withDefault, pod('direct-project'));
      expect(sidecarOf(annotated.patched)!.args).toContain('pool-project-7');
      const impersonating = await admitTwice(withDefault, pod('web'));
      expect(sidecarOf(impersonating.patched)!.args).toContain('my-project-1');
    } finally {
      await withDefault.close();
    }
  });
});

describe('metadata server choice (pure decision)', () => {
  const sa = (annotations: Record<string, string> = {}) => ({
    namespace: 'apps',
    name: 'web',
    annotations,
  });
  const choose = (
    settings: MetadataServerSettings,
    saAnnotations: Record<string, string> = {},
    podAnnotations: Record<string, string> = {},
  ) =>
    chooseMetadataServer({
      settings,
      serviceAccount: sa(saAnnotations),
      podAnnotations,
      os: 'linux',
      project: 'proj-1',
    });

  it('always: every pod unless it says "false"; never: annotations are ignored; node: the DaemonSet by default', () => {
    expect(choose({ mode: 'always', image: IMAGE })).toEqual({
      kind: 'plan',
      plan: { kind: 'sidecar', image: IMAGE, linkLocal: false, projectId: 'proj-1' },
      warnings: [],
    });
    expect(choose({ mode: 'always', image: IMAGE }, { [ANNOTATION]: 'false' })).toEqual({
      kind: 'none',
      warnings: [],
    });
    expect(
      choose(
        { mode: 'never', image: IMAGE },
        { [ANNOTATION]: 'true' },
        { [ANNOTATION]: 'link-local' },
      ),
    ).toEqual({ kind: 'none', warnings: [] });
    expect(choose({ mode: 'node' })).toEqual({
      kind: 'plan',
      plan: { kind: 'node' },
      warnings: [],
    });
    expect(choose({ mode: 'node', image: IMAGE }, {}, { [ANNOTATION]: 'true' })).toMatchObject({
      kind: 'plan',
      plan: { kind: 'sidecar' },
    });
    expect(choose({ mode: 'annotated' })).toEqual({ kind: 'none', warnings: [] });
  });

  it('a sidecar without an image configured is refused with the flag that fixes it', () => {
    const answer = choose({ mode: 'annotated' }, {}, { [ANNOTATION]: 'true' });
    expect(answer).toMatchObject({
      kind: 'invalid',
      problem: expect.stringMatching(/--metadata-server-image/),
    });
  });

  it('configuration: the flag and its variable, checked at startup', () => {
    expect(loadWebhookConfig({}).metadataServer).toEqual({ mode: 'annotated' });
    expect(loadWebhookConfig({ IDBRIDGE_WEBHOOK_METADATA_SERVER: 'node' }).metadataServer).toEqual({
      mode: 'node',
    });
    expect(
      loadWebhookConfig(
        {},
        {
          IDBRIDGE_WEBHOOK_METADATA_SERVER: 'always',
          IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE: IMAGE,
        },
      ).metadataServer,
    ).toEqual({ mode: 'always', image: IMAGE });
    expect(() => loadWebhookConfig({ IDBRIDGE_WEBHOOK_METADATA_SERVER: 'sometimes' })).toThrow(
      /IDBRIDGE_WEBHOOK_METADATA_SERVER.*must be always, annotated, never or node/,
    );
    expect(() => loadWebhookConfig({ IDBRIDGE_WEBHOOK_METADATA_SERVER: 'always' })).toThrow(
      /IDBRIDGE_WEBHOOK_METADATA_SERVER_IMAGE/,
    );
    expect(loadWebhookConfig({ IDBRIDGE_WEBHOOK_DEFAULT_PROJECT: 'my-pool-1' }).defaults).toEqual(
      expect.objectContaining({ project: 'my-pool-1' }),
    );
    for (const bad of ['123456789', 'My-Project', 'ab', '-x-project'])
      expect(() => loadWebhookConfig({ IDBRIDGE_WEBHOOK_DEFAULT_PROJECT: bad }), bad).toThrow(
        /IDBRIDGE_WEBHOOK_DEFAULT_PROJECT.*must be a Google Cloud project id/,
      );
  });
});

describe('node pointing with --overwrite-env=true', () => {
  it('the downward API variable the webhook wrote is not replaced again (reinvocation adds nothing)', () => {
    const plan = {
      provider: parseProvider(PROVIDER),
      serviceAccountEmail: EMAIL,
      tokenLifetimeSeconds: 3600,
      audience: 'sts.googleapis.com',
      expirationSeconds: 86_400,
      universeDomain: 'googleapis.com',
      skipContainers: [],
    };
    const settings = { annotationPrefix: P, fileMode: 0o644, overwriteEnv: true };
    const input = pod('web');
    const first = mutatePod(input as never, plan, settings, { kind: 'node' });
    const patched = applyAndValidate(input, first.patch as Operation[]);
    expect(mutatePod(patched as never, plan, settings, { kind: 'node' }).patch).toEqual([]);
  });
});
