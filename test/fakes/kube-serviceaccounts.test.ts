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

  it('a watch from resourceVersion 0 or unset starts with the current state as ADDED, as kube-apiserver does', async () => {
    const events = async (query: string, count: number, change?: () => void) => {
      const res = await kube.handle(
        new Request(`${kube.url}/api/v1/serviceaccounts?watch=true${query}`, {
          headers: { authorization: `Bearer ${kube.token}` },
        }),
      );
      const reader = res!.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      let changed = false;
      while (text.split('\n').length - 1 < count) {
        if (!changed && change && text.split('\n').length - 1 === count - 1) {
          changed = true;
          change();
        }
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
      await reader.cancel();
      return text
        .trim()
        .split('\n')
        .map((line) => {
          const event = JSON.parse(line) as {
            type: string;
            object: { metadata: { namespace: string; name: string } };
          };
          return `${event.type} ${event.object.metadata.namespace}/${event.object.metadata.name}`;
        });
    };
    for (const query of ['&resourceVersion=0', '']) {
      expect(await events(query, 2)).toEqual(['ADDED apps/web', 'ADDED other/x']);
    }
    // From the list's resourceVersion: no replay of the state, only what changes after it.
    const list = await client(kube.token).listServiceAccountForAllNamespaces();
    expect(
      await events(`&resourceVersion=${list.metadata!.resourceVersion}`, 1, () =>
        kube.upsert({ namespace: 'apps', name: 'web', annotations: { a: 'c' } }),
      ),
    ).toEqual(['MODIFIED apps/web']);
  });
});
