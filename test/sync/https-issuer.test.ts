import { describe, expect, it } from 'vitest';
import { KubeIssuerSource, loadKubeConfig } from '../../src/sync/kube-source.js';
import { startFakeKubeApiserver } from '../fakes/kube-apiserver.js';
import { tempDir } from '../support/serve.js';

/** Issue #11: a real kube-apiserver serves no discovery for an http:// issuer; sync's message must say so. */
describe('sync against a kube-apiserver whose issuer is http://', () => {
  it('names the https requirement among the causes of the 404', async () => {
    const api = await startFakeKubeApiserver({ issuer: 'http://127.0.0.1:8787/c1' });
    const dir = await tempDir();
    try {
      const token = await api.issueToken({
        namespace: 'idbridge-sync',
        serviceAccount: 'idbridge-sync',
        audience: api.apiAudience,
      });
      const source = new KubeIssuerSource(
        loadKubeConfig({
          kubeconfig: await api.writeKubeconfig(dir.path, token),
          inCluster: false,
        }),
      );
      await expect(source.read()).rejects.toMatchObject({
        kind: 'documents',
        message: expect.stringMatching(
          /404: .*--service-account-issuer is not an https:\/\/ URL .*--tls=local/,
        ),
      });
    } finally {
      await api.close();
      await dir.remove();
    }
  });
});
