import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadAllYaml } from '@kubernetes/client-node';
import { Certificate, Issuer } from '@kubernetes-models/cert-manager/cert-manager.io/v1';
import { MutatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { beforeAll, describe, expect, it } from 'vitest';
import { OPT_OUT_LABEL } from '../../src/webhook/annotations.js';
import { MUTATE_PATH } from '../../src/webhook/app.js';
import { DEFAULT_TLS_DIR, loadWebhookConfig } from '../../src/webhook/config.js';
import { REPO_ROOT } from '../support/serve.js';

/** `kubectl kustomize` is a hard requirement: a missing kubectl fails here rather than skipping. */
async function kustomize(dir: string): Promise<Array<Record<string, any>>> {
  const { stdout } = await promisify(execFile)('kubectl', ['kustomize', join(REPO_ROOT, dir)], {
    maxBuffer: 10 * 1024 * 1024,
  });
  return loadAllYaml(stdout) as Array<Record<string, any>>;
}

// Keyed by apiVersion and kind: an object of a kind not listed fails the test rather than going unchecked.
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'admissionregistration.k8s.io/v1/MutatingWebhookConfiguration': MutatingWebhookConfiguration,
  'cert-manager.io/v1/Certificate': Certificate,
  'cert-manager.io/v1/Issuer': Issuer,
};

function checkBase(objects: Array<Record<string, any>>) {
  const one = (kind: string) => {
    const found = objects.filter((o) => o.kind === kind);
    expect(found, kind).toHaveLength(1);
    return found[0]!;
  };
  const namespace = one('Namespace').metadata.name as string;
  const deployment = one('Deployment');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  const service = one('Service');
  const webhook = one('MutatingWebhookConfiguration').webhooks[0];

  it('every object is valid against the Kubernetes schemas', () => {
    for (const object of objects) {
      const type = `${object.apiVersion}/${object.kind}`;
      const Model = MODELS[type];
      expect(Model, `no schema to check ${type} ${object.metadata?.name} against`).toBeDefined();
      new Model!(object as never).validate();
    }
  });

  it('Deployment: 2 replicas spread over nodes and zones, restricted security context, probes', () => {
    expect(deployment.metadata.namespace).toBe(namespace);
    expect(deployment.spec.replicas).toBe(2);
    expect(pod.spec.topologySpreadConstraints.map((c: any) => c.topologyKey)).toEqual([
      'kubernetes.io/hostname',
      'topology.kubernetes.io/zone',
    ]);
    for (const constraint of pod.spec.topologySpreadConstraints)
      expect(constraint.labelSelector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    expect(pod.spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 65532,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(container.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.readinessProbe.httpGet).toEqual({
      path: '/readyz',
      port: 'https',
      scheme: 'HTTPS',
    });
    expect(container.livenessProbe.httpGet).toEqual({
      path: '/healthz',
      port: 'https',
      scheme: 'HTTPS',
    });
    expect(container.image).toBe('idbridge/webhook:0.1.0');
    expect(pod.metadata.labels[OPT_OUT_LABEL]).toBe('false');
  });

  it('Deployment: its arguments run idbridge webhook with flags it accepts, pointing at the mounted Secret', () => {
    const tls = container.volumeMounts.find((m: any) => m.name === 'tls');
    expect(tls).toEqual({ name: 'tls', mountPath: DEFAULT_TLS_DIR, readOnly: true });
    expect(pod.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName).toBe(
      'idbridge-webhook-tls',
    );
    // The image's entrypoint is the idbridge CLI: the first argument names the command.
    const [command, ...rest] = container.args as string[];
    expect(command).toBe('webhook');
    const flags = Object.fromEntries(
      rest.map((arg) => arg.replace(/^--/, '').split('=') as [string, string]),
    );
    const config = loadWebhookConfig(
      {},
      {
        IDBRIDGE_WEBHOOK_PORT: flags.port,
        IDBRIDGE_WEBHOOK_TLS_CERT_FILE: flags['tls-cert-file'],
        IDBRIDGE_WEBHOOK_TLS_KEY_FILE: flags['tls-key-file'],
      },
    );
    expect(config.tls.certFile.startsWith(`${DEFAULT_TLS_DIR}/`)).toBe(true);
    expect(container.ports[0]).toMatchObject({ name: 'https', containerPort: config.port });
    const configMap = objects.find((o) => o.kind === 'ConfigMap')!;
    expect(container.envFrom[0].configMapRef.name).toBe(configMap.metadata.name);
  });

  it('PodDisruptionBudget and Service select the webhook pods', () => {
    expect(one('PodDisruptionBudget').spec).toMatchObject({
      minAvailable: 1,
      selector: { matchLabels: deployment.spec.selector.matchLabels },
    });
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(service.spec.ports[0]).toMatchObject({ port: 443, targetPort: 'https' });
  });

  it('RBAC: the webhook ServiceAccount may only get, list and watch ServiceAccounts', () => {
    expect(one('ClusterRole').rules).toEqual([
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'list', 'watch'] },
    ]);
    const binding = one('ClusterRoleBinding');
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: pod.spec.serviceAccountName, namespace },
    ]);
    expect(binding.roleRef.name).toBe(one('ClusterRole').metadata.name);
  });

  it('MutatingWebhookConfiguration: pods on CREATE, no side effects, bounded timeout, reinvocation, failurePolicy', () => {
    expect(webhook.admissionReviewVersions).toEqual(['v1']);
    expect(webhook.clientConfig.service).toEqual({
      name: service.metadata.name,
      namespace,
      path: MUTATE_PATH,
      port: 443,
    });
    expect(webhook.rules).toEqual([
      {
        operations: ['CREATE'],
        apiGroups: [''],
        apiVersions: ['v1'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ]);
    expect(webhook.sideEffects).toBe('None');
    // Longer than the webhook's own ServiceAccount lookup timeout, within Kubernetes' 1-30 s.
    expect(webhook.timeoutSeconds * 1000).toBeGreaterThan(loadWebhookConfig({}).lookupTimeoutMs);
    expect(webhook.timeoutSeconds).toBeLessThanOrEqual(10);
    expect(webhook.reinvocationPolicy).toBe('IfNeeded');
    expect(['Ignore', 'Fail']).toContain(webhook.failurePolicy);
  });

  it('MutatingWebhookConfiguration: kube-system and its own namespace excluded, an opt-out label', () => {
    expect(webhook.namespaceSelector.matchExpressions).toContainEqual({
      key: 'kubernetes.io/metadata.name',
      operator: 'NotIn',
      values: ['kube-system', namespace],
    });
    expect(webhook.namespaceSelector.matchExpressions).toContainEqual({
      key: OPT_OUT_LABEL,
      operator: 'NotIn',
      values: ['false'],
    });
    expect(webhook.objectSelector.matchExpressions).toEqual([
      { key: OPT_OUT_LABEL, operator: 'NotIn', values: ['false'] },
    ]);
    expect(one('Namespace').metadata.labels[OPT_OUT_LABEL]).toBe('false');
  });
}

describe('kubectl kustomize infra/k8s/webhook', async () => {
  const objects = await kustomize('infra/k8s/webhook');
  checkBase(objects);
  it('leaves the serving certificate to the operator (no cert-manager objects)', () => {
    expect(objects.filter((o) => String(o.apiVersion).startsWith('cert-manager.io/'))).toEqual([]);
  });
});

describe('kubectl kustomize infra/k8s/webhook/cert-manager', async () => {
  const objects = await kustomize('infra/k8s/webhook/cert-manager');
  checkBase(objects);
  let namespace: string;
  let secretName: string;
  beforeAll(() => {
    namespace = objects.find((o) => o.kind === 'Namespace')!.metadata.name;
    secretName = objects
      .find((o) => o.kind === 'Deployment')!
      .spec.template.spec.volumes.find((v: any) => v.name === 'tls').secret.secretName;
  });

  it('issues the serving certificate into the Secret the Deployment mounts, for the Service DNS names', () => {
    const serving = objects.find(
      (o) => o.kind === 'Certificate' && o.spec.secretName === secretName,
    )!;
    expect(serving).toBeDefined();
    const service = objects.find((o) => o.kind === 'Service')!;
    expect(serving.spec.dnsNames).toContain(`${service.metadata.name}.${namespace}.svc`);
    expect(serving.spec.privateKey.rotationPolicy).toBe('Always');
    const issuer = objects.find(
      (o) => o.kind === 'Issuer' && o.metadata.name === serving.spec.issuerRef.name,
    )!;
    const ca = objects.find(
      (o) => o.kind === 'Certificate' && o.spec.secretName === issuer.spec.ca.secretName,
    )!;
    expect(ca.spec.isCA).toBe(true);
    expect(
      objects.find((o) => o.kind === 'Issuer' && o.metadata.name === ca.spec.issuerRef.name)!.spec
        .selfSigned,
    ).toEqual({});
  });

  it("has cert-manager inject the CA into the webhook's caBundle", () => {
    const webhookConfig = objects.find((o) => o.kind === 'MutatingWebhookConfiguration')!;
    const serving = objects.find(
      (o) => o.kind === 'Certificate' && o.spec.secretName === secretName,
    )!;
    expect(webhookConfig.metadata.annotations['cert-manager.io/inject-ca-from']).toBe(
      `${namespace}/${serving.metadata.name}`,
    );
  });
});
