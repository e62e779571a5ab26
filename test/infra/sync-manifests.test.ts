import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { loadAllYaml } from '@kubernetes/client-node';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SYNC_SUBJECT } from '../../src/api/schemas.js';
import { REPO_ROOT, tempDir } from '../support/serve.js';
import { SYNC_EXIT_CODES } from '../../src/sync/failure.js';

const run = promisify(execFile);
const BASE = join(REPO_ROOT, 'infra/k8s/sync');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: any;
}

/** `kubectl kustomize DIR`: kubectl must be installed (it is here and in CI); a missing kubectl fails the test. */
async function render(dir: string): Promise<K8sObject[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 4 * 1024 * 1024 }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new Error(
        'kubectl is not installed: it renders the manifests under test (apt-get install kubectl, or see .ci/run)',
        { cause: err },
      );
    throw err;
  }
  return loadAllYaml(stdout) as K8sObject[];
}

function only(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
}

/** The Pod Security Standard "restricted" rules that apply to this pod, checked on the rendered spec. */
function restrictedViolations(pod: any): string[] {
  const problems: string[] = [];
  const podContext = pod.securityContext ?? {};
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    const ctx = c.securityContext ?? {};
    if (ctx.privileged) problems.push(`${c.name}: privileged`);
    if (ctx.allowPrivilegeEscalation !== false)
      problems.push(`${c.name}: allowPrivilegeEscalation must be false`);
    if (!(ctx.capabilities?.drop ?? []).includes('ALL'))
      problems.push(`${c.name}: capabilities must drop ALL`);
    if ((ctx.capabilities?.add ?? []).some((cap: string) => cap !== 'NET_BIND_SERVICE'))
      problems.push(`${c.name}: adds capabilities`);
    if ((ctx.runAsNonRoot ?? podContext.runAsNonRoot) !== true)
      problems.push(`${c.name}: runAsNonRoot`);
    if ((ctx.runAsUser ?? podContext.runAsUser) === 0) problems.push(`${c.name}: runAsUser 0`);
    const seccomp = ctx.seccompProfile?.type ?? podContext.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${c.name}: seccompProfile must be RuntimeDefault`);
    if (c.ports?.some((p: any) => p.hostPort)) problems.push(`${c.name}: hostPort`);
  }
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) problems.push('host namespaces');
  for (const v of pod.volumes ?? []) {
    const allowed = [
      'configMap',
      'csi',
      'downwardAPI',
      'emptyDir',
      'ephemeral',
      'persistentVolumeClaim',
      'projected',
      'secret',
    ];
    if (
      !Object.keys(v)
        .filter((k) => k !== 'name')
        .every((k) => allowed.includes(k))
    )
      problems.push(`volume ${v.name}: type not allowed`);
  }
  return problems;
}

describe('infra/k8s/sync (kustomize)', () => {
  it('renders valid Kubernetes objects: Namespace, ServiceAccount, ClusterRoleBinding, ConfigMap, CronJob', async () => {
    const objects = await render(BASE);
    expect(objects.map((o) => o.kind).sort()).toEqual([
      'ClusterRoleBinding',
      'ConfigMap',
      'CronJob',
      'Namespace',
      'ServiceAccount',
    ]);
    const models: Record<string, new (o: any) => { validate(): void }> = {
      Namespace,
      ServiceAccount,
      ClusterRoleBinding,
      ConfigMap,
      CronJob,
    };
    for (const object of objects)
      expect(() => new models[object.kind]!(object).validate(), object.kind).not.toThrow();
    for (const object of objects) {
      if (object.kind !== 'Namespace' && object.kind !== 'ClusterRoleBinding')
        expect(object.metadata.namespace, object.kind).toBe('idbridge-sync');
      expect(object.metadata.labels?.['app.kubernetes.io/part-of']).toBe('idbridge');
    }
  });

  it('runs as the ServiceAccount the API expects by default, bound to the issuer-discovery ClusterRole', async () => {
    const objects = await render(BASE);
    const sa = only(objects, 'ServiceAccount');
    expect(`system:serviceaccount:${sa.metadata.namespace}:${sa.metadata.name}`).toBe(
      DEFAULT_SYNC_SUBJECT,
    );
    const binding = only(objects, 'ClusterRoleBinding');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'system:service-account-issuer-discovery',
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace },
    ]);
    expect(only(objects, 'CronJob').spec.jobTemplate.spec.template.spec.serviceAccountName).toBe(
      sa.metadata.name,
    );
  });

  it("runs idbridge sync --once with a projected token whose audience is the API's", async () => {
    const objects = await render(BASE);
    const config = only(objects, 'ConfigMap');
    const cron = only(objects, 'CronJob');
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    expect(cron.spec.schedule).toMatch(/^\S+ \S+ \S+ \S+ \S+$/);
    const pod = cron.spec.jobTemplate.spec.template.spec;
    expect(pod.restartPolicy).toBe('Never'); // podFailurePolicy needs it
    const [container] = pod.containers;
    // Exit codes that another pod cannot fix end the Job at once (see SYNC_EXIT_CODES).
    expect(cron.spec.jobTemplate.spec.podFailurePolicy.rules).toEqual([
      {
        action: 'FailJob',
        onExitCodes: {
          containerName: container.name,
          operator: 'In',
          values: [SYNC_EXIT_CODES.config, SYNC_EXIT_CODES.documents, SYNC_EXIT_CODES.refused],
        },
      },
    ]);
    expect(container.args.slice(0, 2)).toEqual(['sync', '--once']);
    expect(container.args).toEqual(
      expect.arrayContaining(['--api=$(IDBRIDGE_API_URL)', '--cluster=$(IDBRIDGE_CLUSTER)']),
    );
    expect(container.envFrom).toEqual([{ configMapRef: { name: config.metadata.name } }]);
    for (const key of ['IDBRIDGE_API_URL', 'IDBRIDGE_CLUSTER', 'IDBRIDGE_SYNC_AUDIENCE'])
      expect(config.data[key], key).toBeTruthy();

    const tokenFile = container.args
      .find((a: string) => a.startsWith('--token-file='))!
      .slice('--token-file='.length);
    const mount = container.volumeMounts.find((m: any) => tokenFile.startsWith(`${m.mountPath}/`));
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    const source = volume.projected.sources.find(
      (s: any) => s.serviceAccountToken,
    ).serviceAccountToken;
    expect(`${mount.mountPath}/${source.path}`).toBe(tokenFile);
    expect(source.audience).toBe(config.data.IDBRIDGE_SYNC_AUDIENCE);
    // Under 48 h (Google's limit, enforced by the API too) and at least kubelet's 10-minute minimum.
    expect(source.expirationSeconds).toBeGreaterThanOrEqual(600);
    expect(source.expirationSeconds).toBeLessThan(48 * 3600);
  });

  it('meets the restricted Pod Security Standard, which its namespace enforces, and sets resources', async () => {
    const objects = await render(BASE);
    expect(only(objects, 'Namespace').metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe(
      'restricted',
    );
    const pod = only(objects, 'CronJob').spec.jobTemplate.spec.template.spec;
    expect(restrictedViolations(pod)).toEqual([]);
    const [container] = pod.containers;
    expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
    for (const kind of ['requests', 'limits']) {
      expect(container.resources[kind].cpu, kind).toBeTruthy();
      expect(container.resources[kind].memory, kind).toBeTruthy();
    }
    // The checker itself catches what it should.
    expect(
      restrictedViolations({
        ...pod,
        containers: [
          {
            ...container,
            securityContext: { ...container.securityContext, allowPrivilegeEscalation: true },
          },
        ],
      }),
    ).toEqual(['sync: allowPrivilegeEscalation must be false']);
  });

  it('lets an overlay set the cluster and audience once, and the token audience follows', async () => {
    const dir = await tempDir('idbridge-kustomize-');
    try {
      const overlay = join(dir.path, 'prod-eu');
      await mkdir(overlay);
      await writeFile(
        join(overlay, 'kustomization.yaml'),
        [
          'resources:',
          `  - ${relative(overlay, BASE)}`,
          'components:',
          `  - ${relative(overlay, join(BASE, 'audience'))}`,
          'configMapGenerator:',
          '  - name: idbridge-sync',
          '    behavior: merge',
          '    literals:',
          '      - IDBRIDGE_CLUSTER=prod-eu',
          '      - IDBRIDGE_API_URL=https://idbridge.corp.example',
          '      - IDBRIDGE_SYNC_AUDIENCE=https://issuer.corp.example',
          '',
        ].join('\n'),
      );
      const objects = await render(overlay);
      const config = only(objects, 'ConfigMap');
      expect(config.data).toMatchObject({
        IDBRIDGE_CLUSTER: 'prod-eu',
        IDBRIDGE_SYNC_AUDIENCE: 'https://issuer.corp.example',
      });
      const pod = only(objects, 'CronJob').spec.jobTemplate.spec.template.spec;
      expect(pod.volumes[0].projected.sources[0].serviceAccountToken.audience).toBe(
        'https://issuer.corp.example',
      );
      expect(pod.containers[0].envFrom[0].configMapRef.name).toBe(config.metadata.name);
    } finally {
      await dir.remove();
    }
  });
});
