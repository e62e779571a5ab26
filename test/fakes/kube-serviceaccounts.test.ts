import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  kubeconfigYaml,
  startFakeKubeServiceAccounts,
  type FakeKubeServiceAccounts,
} from './kube-serviceaccounts.js';

/** The fake ServiceAccount API against @kubernetes/client-node, the client the webhook uses. */
describe('fake kube-apiserver ServiceAccounts, driven by @kubernetes/client-node', () => {
  let kube: FakeKubeServiceAccounts;
  const client = (token: string) => {
    const config = new KubeConfig();
    config.loadFromString(kubeconfigYaml(kube.url, token, kube.ca));
    return config.makeApiClient(CoreV1Api);
  };
  beforeAll(async () => {
    kube = await startFakeKubeServiceAccounts([
      { namespace: 'apps', name: 'web', annotations: { a: 'b' } },
      { namespace: 'other', name: 'x' },
    ]);
  });
  afterAll(async () => {
    await kube?.close();
  });

  it('lists all namespaces and one, with a resourceVersion', async () => {
    const all = await client(kube.token).listServiceAccountForAllNamespaces();
    expect(all.items.map((sa) => `${sa.metadata!.namespace}/${sa.metadata!.name}`)).toEqual([
      'apps/web',
      'other/x',
    ]);
    expect(Number(all.metadata!.resourceVersion)).toBeGreaterThan(0);
    expect(
      (await client(kube.token).listNamespacedServiceAccount({ namespace: 'other' })).items,
    ).toHaveLength(1);
  });

  it('reads one, and answers a missing one with a NotFound Status', async () => {
    expect(
      (await client(kube.token).readNamespacedServiceAccount({ name: 'web', namespace: 'apps' }))
        .metadata!.annotations,
    ).toEqual({ a: 'b' });
    const err = await client(kube.token)
      .readNamespacedServiceAccount({ name: 'ghost', namespace: 'apps' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(404);
    expect(JSON.parse((err as ApiException<string>).body)).toMatchObject({
      kind: 'Status',
      reason: 'NotFound',
      code: 404,
    });
  });

  it('refuses a wrong bearer token with 401, and writes with 405', async () => {
    const err = await client('wrong-token')
      .listServiceAccountForAllNamespaces()
      .catch((e: unknown) => e);
    expect((err as ApiException<unknown>).code).toBe(401);
    const res = await kube.handle(
      new Request(`${kube.url}/api/v1/namespaces/apps/serviceaccounts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${kube.token}` },
      }),
    );
    expect(res!.status).toBe(405);
    expect(await kube.handle(new Request(`${kube.url}/api/v1/pods`))).toBeUndefined();
  });
});
