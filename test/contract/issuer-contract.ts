import { request as httpRequest } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublicJwk } from '../../src/oidc/jwks.js';
import { generateClusterKey, jwksOf, signKubeToken, type ClusterKey } from '../support/keys.js';

/**
 * A host of the public issuer routes (`idbridge serve`, the Worker, the Cloud Function), and how
 * the contract makes a cluster appear on it. The same suite runs against every host.
 */
export interface IssuerHost {
  /** Where requests go (may differ from publicUrl, e.g. behind the Worker). */
  url: string;
  /** The issuer base the host publishes: cluster `c` has issuer `${publicUrl}/c`. */
  publicUrl: string;
  /** Registers cluster `id` with these keys wherever this host reads from. */
  publishCluster(id: string, jwks: { keys: PublicJwk[] }): Promise<void>;
  /** Replaces the keys of a published cluster and returns once the host serves them. */
  replaceKeys(id: string, jwks: { keys: PublicJwk[] }): Promise<void>;
  close(): Promise<void>;
}

/** A raw request, so paths reach the server exactly as written (fetch would normalize them). */
export function rawRequest(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string> } = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        path,
        method: options.method ?? 'GET',
        headers: options.headers,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export function describeIssuerContract(hostName: string, start: () => Promise<IssuerHost>): void {
  describe(`issuer contract: ${hostName}`, () => {
    let host: IssuerHost;
    let rsa: ClusterKey;
    let ec: ClusterKey;
    const cluster = 'contract-c1';

    beforeAll(async () => {
      host = await start();
      rsa = generateClusterKey('RS256');
      ec = generateClusterKey('ES256');
      await host.publishCluster(cluster, jwksOf(rsa, ec));
    });
    afterAll(async () => {
      await host?.close();
    });

    const get = (path: string, init?: RequestInit) => fetch(`${host.url}${path}`, init);

    it('serves the discovery document with issuer equal to the URL it is served under', async () => {
      const res = await get(`/${cluster}/.well-known/openid-configuration`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/json');
      const doc = await res.json();
      expect(doc).toEqual({
        issuer: `${host.publicUrl}/${cluster}`,
        jwks_uri: `${host.publicUrl}/${cluster}/openid/v1/jwks`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256', 'RS256'],
      });
    });

    it('serves the JWKS as application/jwk-set+json with public members only', async () => {
      const res = await get(`/${cluster}/openid/v1/jwks`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/jwk-set+json');
      const body = (await res.json()) as { keys: Record<string, unknown>[] };
      expect(body.keys).toEqual([rsa.jwk, ec.jwk]);
      for (const key of body.keys)
        for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])
          expect(key).not.toHaveProperty(member);
    });

    it('sends cache, CORS and validator headers on both documents', async () => {
      for (const path of [
        `/${cluster}/.well-known/openid-configuration`,
        `/${cluster}/openid/v1/jwks`,
      ]) {
        const res = await get(path);
        expect(res.headers.get('cache-control')).toMatch(/^public, max-age=\d+/);
        expect(res.headers.get('access-control-allow-origin')).toBe('*');
        expect(res.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{20,}"$/);
        expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      }
    });

    it('answers HEAD with the GET headers and no body', async () => {
      const full = await get(`/${cluster}/openid/v1/jwks`);
      const fullBody = await full.arrayBuffer();
      const head = await get(`/${cluster}/openid/v1/jwks`, { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers.get('etag')).toBe(full.headers.get('etag'));
      expect(head.headers.get('content-type')).toBe('application/jwk-set+json');
      expect(Number(head.headers.get('content-length'))).toBe(fullBody.byteLength);
      expect((await head.arrayBuffer()).byteLength).toBe(0);
    });

    it('answers 304 to a matching If-None-Match (strong, weak, in a list, *) and 200 otherwise', async () => {
      const first = await get(`/${cluster}/openid/v1/jwks`);
      const etag = first.headers.get('etag')!;
      for (const candidate of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
        const res = await get(`/${cluster}/openid/v1/jwks`, {
          headers: { 'if-none-match': candidate },
        });
        expect(res.status, candidate).toBe(304);
        expect(res.headers.get('etag')).toBe(etag);
        expect(res.headers.get('cache-control')).toMatch(/max-age/);
        expect((await res.arrayBuffer()).byteLength).toBe(0);
      }
      const stale = await get(`/${cluster}/openid/v1/jwks`, {
        headers: { 'if-none-match': '"something-else"' },
      });
      expect(stale.status).toBe(200);
    });

    it('refuses every method but GET, HEAD and OPTIONS with 405 and Allow', async () => {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        const res = await get(`/${cluster}/openid/v1/jwks`, {
          method,
          body: method === 'DELETE' ? null : '{}',
        });
        expect(res.status, method).toBe(405);
        expect(res.headers.get('allow')).toBe('GET, HEAD, OPTIONS');
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.code).toBe('method_not_allowed');
        expect(body.error.message).toMatch(/use GET or HEAD/);
      }
    });

    it('answers unknown, malformed and reserved cluster ids with a JSON 404', async () => {
      for (const id of ['no-such-cluster', 'CONTRACT-C1', 'api', 'a_b', '-x', 'x'.repeat(64)]) {
        const res = await get(`/${id}/openid/v1/jwks`);
        expect(res.status, id).toBe(404);
        const body = (await res.json()) as { error: { code: string; message: string } };
        expect(body.error.message).toMatch(/no cluster/);
      }
    });

    it('does not serve documents at tricked paths', async () => {
      for (const path of [
        `/${cluster}/openid/v1/jwks/`,
        `/${cluster}/openid/v1/jwks/..`,
        `/${cluster}/%2e%2e/${cluster}/openid/v1/jwks`,
        `//${cluster}/openid/v1/jwks`,
        `/${cluster}/.well-known/openid-configuration/../../openid/v1/jwks%00`,
        `/${cluster}%2fopenid%2fv1%2fjwks`,
        `/${cluster}/.well-known/../openid/v1/jwks`,
      ]) {
        const res = await rawRequest(host.url, path);
        if (res.status === 200) {
          // URLs normalize dot segments (also as %2e%2e, per the WHATWG URL standard); a server
          // that does must then serve exactly the real document.
          expect(path, `only dot-segment normalization may yield 200: ${path}`).toMatch(
            /\/(\.\.|%2e%2e)\//i,
          );
          expect(JSON.parse(res.body)).toEqual(jwksOf(rsa, ec));
        } else {
          expect(res.status, path).toBeGreaterThanOrEqual(400);
          expect(res.status, path).toBeLessThan(500);
        }
      }
    });

    it('ignores a query string', async () => {
      const res = await get(`/${cluster}/openid/v1/jwks?cache-bust=1`);
      expect(res.status).toBe(200);
      expect((await res.json()) as object).toEqual(jwksOf(rsa, ec));
    });

    it('lets openid-client discover the issuer and jose verify a kube-apiserver token through it', async () => {
      const issuer = `${host.publicUrl}/${cluster}`;
      // openid-client checks that the discovered issuer equals the URL it was asked for, so it can
      // only run where requests go to the public URL itself.
      if (host.url === host.publicUrl) {
        const config = await oidc.discovery(
          new URL(issuer),
          'idbridge-contract',
          undefined,
          undefined,
          { execute: [oidc.allowInsecureRequests] },
        );
        expect(config.serverMetadata().issuer).toBe(issuer);
        expect(config.serverMetadata().jwks_uri).toBe(`${issuer}/openid/v1/jwks`);
      }

      const jwks = createRemoteJWKSet(new URL(`${host.url}/${cluster}/openid/v1/jwks`));
      for (const key of [rsa, ec]) {
        const token = await signKubeToken(key, {
          issuer,
          audience: 'sts.googleapis.com',
          namespace: 'apps',
          serviceAccount: 'web',
        });
        const { payload, protectedHeader } = await jwtVerify(token, jwks, {
          issuer,
          audience: 'sts.googleapis.com',
          algorithms: ['RS256', 'ES256'],
        });
        expect(payload.sub).toBe('system:serviceaccount:apps:web');
        expect(protectedHeader.kid).toBe(key.kid);
      }
      const stranger = generateClusterKey('RS256');
      const forged = await signKubeToken(
        { ...stranger, kid: rsa.kid },
        { issuer, audience: 'sts.googleapis.com' },
      );
      await expect(jwtVerify(forged, jwks, { issuer })).rejects.toThrow(/signature/);
    });

    it('publishes a key rotation with a new ETag', async () => {
      const before = await get(`/${cluster}/openid/v1/jwks`);
      const next = generateClusterKey('RS256');
      await host.replaceKeys(cluster, jwksOf(rsa, next));
      const after = await get(`/${cluster}/openid/v1/jwks`);
      expect(after.headers.get('etag')).not.toBe(before.headers.get('etag'));
      expect((await after.json()) as object).toEqual(jwksOf(rsa, next));
      const conditional = await get(`/${cluster}/openid/v1/jwks`, {
        headers: { 'if-none-match': before.headers.get('etag')! },
      });
      expect(conditional.status).toBe(200);
      const discovery = (await (
        await get(`/${cluster}/.well-known/openid-configuration`)
      ).json()) as { id_token_signing_alg_values_supported: string[] };
      expect(discovery.id_token_signing_alg_values_supported).toEqual(['RS256']);
    });
  });
}
