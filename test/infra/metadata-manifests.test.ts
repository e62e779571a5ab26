import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAllYaml } from '@kubernetes/client-node';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { loadNodeModeConfig, NODE_FLAGS } from '../../src/metadata/node-config.js';
import { METADATA_PORT } from '../../src/webhook/metadata-server.js';
import { REPO_ROOT } from '../support/serve.js';

/** infra/k8s/metadata-server (node mode), rendered by `kubectl kustomize` and checked against Kubernetes' schemas. */

const run = promisify(execFile);
async function render(dir: string): Promise<Array<Record<string, any>>> {
  const { stdout } = await run('kubectl', ['kustomize', join(REPO_ROOT, dir)], {
    maxBuffer: 4 * 1024 * 1024,
  });
  return loadAllYaml(stdout) as Array<Record<string, any>>;
}
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
};

for (const dir of ['infra/k8s/metadata-server', 'infra/k8s/metadata-server/with-dnat']) {
  describe(`kubectl kustomize ${dir}`, async () => {
    const objects = await render(dir);
    const one = (kind: string) => {
      const found = objects.filter((o) => o.kind === kind);
      expect(found, kind).toHaveLength(1);
      return found[0]!;
    };
    const daemonSet = one('DaemonSet');
    const pod = daemonSet.spec.template.spec;
    const container = pod.containers[0];

    it('every object is valid against the Kubernetes schemas', () => {
      for (const object of objects) {
        const Model = MODELS[`${object.apiVersion}/${object.kind}`];
        expect(Model, `no schema for ${object.apiVersion}/${object.kind}`).toBeDefined();
        new Model!(object as never).validate();
      }
    });

    it('DaemonSet: host networking on HOST_IP:988, every node, node-critical, only NET_BIND_SERVICE', () => {
      expect(pod).toMatchObject({
        hostNetwork: true,
        dnsPolicy: 'ClusterFirstWithHostNet',
        priorityClassName: 'system-node-critical',
        tolerations: [{ operator: 'Exists' }],
      });
      expect(container.args).toEqual([
        'metadata-server',
        '--mode=node',
        '--node-name=$(NODE_NAME)',
        '--host=$(HOST_IP)',
        `--port=${METADATA_PORT}`,
      ]);
      expect(container.env).toEqual([
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
      ]);
      expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metadata' });
      expect(container.securityContext).toEqual({
        runAsNonRoot: false,
        runAsUser: 0,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
      });
      expect(container.image).toBe('idbridge/webhook:0.1.0');
      expect(pod.serviceAccountName).toBe(one('ServiceAccount').metadata.name);
      expect(daemonSet.spec.template.metadata.labels['idbridge.dev/inject']).toBe('false');
    });

    it('its flags and settings are the ones node mode parses', async () => {
      const known = new Set(NODE_FLAGS.map(([flag]) => flag.split(' ')[0]));
      expect(known.has('--node-name')).toBe(true);
      const configMap = one('ConfigMap');
      expect(container.envFrom[0].configMapRef.name).toBe(configMap.metadata.name);
      const env = {
        ...configMap.data,
        IDBRIDGE_METADATA_AUDIENCE:
          '//iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/pool-1/providers/prov-1',
        IDBRIDGE_METADATA_NODE_NAME: 'node-a',
      };
      expect(loadNodeModeConfig(env)).toMatchObject({
        nodeName: 'node-a',
        tokenUrl: 'https://sts.googleapis.com/v1/token',
        iamCredentialsUrl: 'https://iamcredentials.googleapis.com',
        tokenExpirationSeconds: 3600,
      });
      // The placeholder is refused until the operator sets the provider.
      expect(() =>
        loadNodeModeConfig({ ...configMap.data, IDBRIDGE_METADATA_NODE_NAME: 'node-a' }),
      ).toThrow(/IDBRIDGE_METADATA_AUDIENCE/);
      expect(
        await readFile(
          join(REPO_ROOT, 'infra/k8s/metadata-server/base/metadata-server.env'),
          'utf8',
        ),
      ).toMatch(/IDBRIDGE_METADATA_AUDIENCE=/);
    });

    it('RBAC: pods and ServiceAccounts get/list/watch, serviceaccounts/token create, nothing else', () => {
      expect(one('ClusterRole').rules).toEqual([
        {
          apiGroups: [''],
          resources: ['pods', 'serviceaccounts'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] },
      ]);
      expect(one('ClusterRoleBinding').subjects).toEqual([
        {
          kind: 'ServiceAccount',
          name: 'idbridge-metadata-server',
          namespace: one('Namespace').metadata.name,
        },
      ]);
    });

    it(
      dir.endsWith('with-dnat')
        ? 'the DNAT init step: 169.254.169.254:80 to HOST_IP:988, idempotent, NET_ADMIN in that container only'
        : 'no DNAT unless the component is added',
      () => {
        if (!dir.endsWith('with-dnat')) {
          expect(pod.initContainers).toBeUndefined();
          return;
        }
        expect(pod.initContainers).toHaveLength(1);
        const init = pod.initContainers[0];
        const script = init.args.join(' ');
        expect(script).toContain('-d 169.254.169.254/32 -p tcp --dport 80');
        expect(script).toContain('--to-destination ${HOST_IP}:988');
        expect(script).toMatch(/-C \$RULE 2>\/dev\/null \|\| iptables -w 5 -t nat -I \$RULE/);
        expect(init.securityContext.capabilities).toEqual({
          drop: ['ALL'],
          add: ['NET_ADMIN', 'NET_RAW'],
        });
        expect(container.securityContext.capabilities.add).toEqual(['NET_BIND_SERVICE']);
      },
    );
  });
}
