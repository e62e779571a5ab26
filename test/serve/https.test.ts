import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createRemoteJWKSet, customFetch as joseCustomFetch, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { spawnServe, startServe, tempDir } from '../support/serve.js';
import { httpsRequest } from '../support/tls.js';

/** fetch that trusts exactly `ca` (Node's fetch takes no CA), for openid-client and jose. */
function fetchTrusting(ca: string) {
  return async (
    url: string | URL,
    init: {
      method?: string;
      headers?: ConstructorParameters<typeof Headers>[0];
      body?: unknown;
    } = {},
  ): Promise<Response> => {
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    const answer = await httpsRequest(String(url), {
      ca,
      method: init.method ?? 'GET',
      headers,
      ...(typeof init.body === 'string' ? { body: init.body } : {}),
    });
    const out = new Headers();
    for (const [name, value] of Object.entries(answer.headers))
      if (typeof value === 'string') out.set(name, value);
    return new Response(answer.body, { status: answer.status, headers: out });
  };
}

/** Issue #11, item 1: kube-apiserver wants an https:// issuer, so `serve` speaks HTTPS with a local CA. */
describe('idbridge serve --tls=local as a process', () => {
  it('serves HTTPS under its local CA: openid-client discovers the issuer and jose verifies a token through it', async () => {
    const dir = await tempDir();
    const server = await spawnServe(
      { IDBRIDGE_STORE: `file:${dir.path}`, IDBRIDGE_ADMIN_TOKEN: 'https-test-token-0123456789' },
      ['--tls=local'],
    );
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const caFile = join(dir.path, 'tls', 'ca.crt');
      const ca = await readFile(caFile, 'utf8');
      expect((await stat(join(dir.path, 'tls', 'ca.key'))).mode & 0o777).toBe(0o600);
      expect(server.stderr).toContain(`NODE_EXTRA_CA_CERTS=${caFile}`);
      expect(server.stderr).toContain(`--cacert ${caFile}`);
      expect(server.stderr).toMatch(/--service-account-issuer=https:\/\/127\.0\.0\.1:\d+\/CLUSTER/);

      const key = generateClusterKey('RS256');
      const created = await httpsRequest(`${server.url}/api/v1/clusters`, {
        ca,
        method: 'POST',
        headers: {
          authorization: 'Bearer https-test-token-0123456789',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ id: 'c1', jwks: jwksOf(key) }),
      });
      expect(created.status).toBe(201);
      const body = JSON.parse(created.body) as {
        cluster: { issuer: string };
        warnings: string[];
        kubeApiserver: { flags: string[] };
      };
      const issuer = `${server.url}/c1`;
      expect(body.cluster.issuer).toBe(issuer);
      expect(body.warnings).toEqual([]);
      expect(body.kubeApiserver.flags).toContain(`--service-account-issuer=${issuer}`);

      const trusted = fetchTrusting(ca);
      const config = await oidc.discovery(new URL(issuer), 'idbridge-https', undefined, undefined, {
        [oidc.customFetch]: trusted as never,
      });
      expect(config.serverMetadata().jwks_uri).toBe(`${issuer}/openid/v1/jwks`);
      const jwks = createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!), {
        [joseCustomFetch]: trusted as never,
      });
      const token = await signKubeToken(key, {
        issuer,
        audience: 'sts.googleapis.com',
        namespace: 'apps',
        serviceAccount: 'web',
      });
      const { payload } = await jwtVerify(token, jwks, { issuer, audience: 'sts.googleapis.com' });
      expect(payload.sub).toBe('system:serviceaccount:apps:web');

      // A client that does not trust the local CA is refused, not silently accepted.
      await expect(httpsRequest(`${issuer}/openid/v1/jwks`, { ca: [] })).rejects.toMatchObject({
        code: expect.stringMatching(/UNABLE_TO_VERIFY|SELF_SIGNED|UNABLE_TO_GET_ISSUER/),
      });
      expect(await server.stop()).toBe(0);

      // The CA is made once and reused on restart: what clients trust stays trusted.
      const again = await spawnServe(
        { IDBRIDGE_STORE: `file:${dir.path}`, IDBRIDGE_ADMIN_TOKEN: 'https-test-token-0123456789' },
        ['--tls=local'],
      );
      expect(await readFile(caFile, 'utf8')).toBe(ca);
      expect((await httpsRequest(`${again.url}/healthz`, { ca })).status).toBe(200);
      expect(again.stderr).toMatch(/local CA \(reused/);
      expect(await again.stop()).toBe(0);
    } finally {
      await dir.remove();
    }
  });

  it('the registration answer warns when the issuer is not https', async () => {
    const server = await startServe();
    try {
      const res = await fetch(`${server.url}/api/v1/clusters`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${server.adminToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ id: 'c1', jwks: jwksOf(generateClusterKey()) }),
      });
      const body = (await res.json()) as { warnings: string[] };
      expect(body.warnings.join('\n')).toMatch(
        /is not https:\/\/: kube-apiserver .* 404 on its discovery endpoints.*Google STS fetches issuers over https only.*--tls=local/,
      );
    } finally {
      await server.close();
    }
  });

  it('refuses half a TLS configuration, naming the flags', async () => {
    const { runCli } = await import('../support/cli.js');
    const result = await runCli([
      'serve',
      '--store',
      'memory:',
      '--tls-cert-file',
      '/nonexistent.crt',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^idbridge: invalid configuration: give both --tls-cert-file \(IDBRIDGE_TLS_CERT_FILE\) and --tls-key-file/,
    );
  });
});
