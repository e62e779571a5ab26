import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyEvent } from '../../src/registry/record.js';
import {
  claimsOf,
  generateClusterKey,
  jwksOf,
  signKubeToken,
  signRawRs256,
} from '../support/keys.js';
import {
  startSyncWorld,
  SYNC_NAMESPACE,
  SYNC_SERVICE_ACCOUNT,
  type StoreKind,
  type SyncWorld,
} from '../support/sync.js';

const PROVIDER_POOL = 'projects/123456/locations/global/workloadIdentityPools/fleet';

async function push(
  world: SyncWorld,
  token: string | undefined,
  body: unknown,
  cluster = world.cluster,
): Promise<{ status: number; json: any }> {
  const res = await fetch(`${world.serve.url}/api/v1/clusters/${cluster}/keys`, {
    method: 'PUT',
    headers: {
      'content-type': 'application/json',
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

async function record(world: SyncWorld, cluster = world.cluster): Promise<any> {
  const res = await world.api.call('GET', `/api/v1/clusters/${cluster}`);
  expect(res.status).toBe(200);
  return res.json.cluster;
}

for (const store of ['memory', 'file', 'gcs'] as const satisfies readonly StoreKind[]) {
  describe(`sync push (${store} store)`, () => {
    let world: SyncWorld;
    beforeAll(async () => {
      world = await startSyncWorld(store);
      await world.register();
    });
    afterAll(async () => {
      await world?.close();
    });

    it('a jwks-upload cluster is published nowhere: no issuer documents, no bucket objects', async () => {
      const id = 'upload-c1';
      const documents = [`${id}/openid/v1/jwks`, `${id}/.well-known/openid-configuration`];
      const statuses = () =>
        Promise.all(
          documents.map(async (path) => (await fetch(`${world.serve.url}/${path}`)).status),
        );
      const inBucket = () =>
        world.gcs
          ? world.gcs.gcs
              .objectNames(world.gcs.bucket, 'issuers/')
              .filter((name) => documents.some((doc) => name === `issuers/${doc}`))
          : [];
      const jwks = jwksOf(generateClusterKey('ES256'));
      const created = await world.api.call('POST', '/api/v1/clusters', {
        id,
        jwks,
        mode: 'jwks-upload',
      });
      expect(created.status).toBe(201);
      expect(await statuses()).toEqual([404, 404]);
      expect(inBucket()).toEqual([]);
      // Declared a provider-mode cluster, it is published on every host at once; and withdrawn again.
      const mode = (value: string) =>
        world.api.call('PATCH', `/api/v1/clusters/${id}`, { mode: value });
      expect((await mode('provider')).status).toBe(200);
      expect(await statuses()).toEqual([200, 200]);
      if (world.gcs) expect(inBucket()).toHaveLength(2);
      expect((await mode('jwks-upload')).status).toBe(200);
      expect(await statuses()).toEqual([404, 404]);
      expect(inBucket()).toEqual([]);
      expect((await world.api.call('DELETE', `/api/v1/clusters/${id}`)).status).toBe(204);
    });

    it('syncs, then rotates in two steps, each push visible on the issuer routes', async () => {
      const first = world.kube.signingKey;
      const nothing = await world.sync();
      expect(nothing.code, nothing.stderr).toBe(0);
      expect(nothing.stdout).toMatch(/already up to date; nothing written/);
      expect(await world.published()).toEqual(jwksOf(first));

      // Step 1: the cluster publishes its next key; the old one still signs.
      const next = generateClusterKey('RS256');
      world.kube.addKey(next);
      const added = await world.sync();
      expect(added.code, added.stderr).toBe(0);
      expect(added.stdout).toMatch(/published new keys/);
      expect(await world.published()).toEqual(jwksOf(first, next));
      const discovery = (await (
        await fetch(`${world.issuer}/.well-known/openid-configuration`)
      ).json()) as { issuer: string };
      expect(discovery.issuer).toBe(world.issuer);

      // Step 2: switch the signing key (kubelet refreshes the tokens), then drop the old key.
      world.kube.setSigningKey(next);
      await world.refreshTokens();
      world.kube.removeKey(first.kid);
      const removed = await world.sync();
      expect(removed.code, removed.stderr).toBe(0);
      expect(await world.published()).toEqual(jwksOf(next));

      const cluster = await record(world);
      const events = cluster.keyEvents as KeyEvent[];
      expect(events.map((e) => [e.source, e.added, e.removed])).toEqual([
        ['registration', [first.kid], []],
        ['sync', [next.kid], []],
        ['sync', [], [first.kid]],
      ]);
      if (world.gcs) {
        // The bucket layout follows every push.
        const fromBucket = await (
          await fetch(
            `${world.gcs.gcs.url}/${world.gcs.bucket}/issuers/${world.cluster}/openid/v1/jwks`,
          )
        ).json();
        expect(fromBucket).toEqual(jwksOf(next));
      }
    });

    describe('refusals change nothing', () => {
      const signer = () => world.kube.signingKey;
      const current = () => ({ jwks: { keys: world.kube.keys.map((k) => k.jwk) } });
      const cases: Array<
        [string, number, RegExp, () => Promise<{ token?: string; body?: unknown }>]
      > = [
        ['no bearer', 401, /projected ServiceAccount token/, async () => ({})],
        [
          'a token signed by an unknown key',
          401,
          /not among cluster prod's published keys/,
          async () => ({
            token: await signKubeToken(generateClusterKey('RS256'), {
              issuer: world.issuer,
              audience: world.serve.url,
              namespace: SYNC_NAMESPACE,
              serviceAccount: SYNC_SERVICE_ACCOUNT,
            }),
          }),
        ],
        [
          "an unknown key posing under the signing key's kid",
          401,
          /signature does not verify/,
          async () => ({
            token: await signKubeToken(
              { ...generateClusterKey('RS256'), kid: signer().kid },
              {
                issuer: world.issuer,
                audience: world.serve.url,
                namespace: SYNC_NAMESPACE,
                serviceAccount: SYNC_SERVICE_ACCOUNT,
              },
            ),
          }),
        ],
        [
          'another ServiceAccount of the cluster',
          401,
          /belongs to "system:serviceaccount:idbridge-sync:default"/,
          async () => ({ token: await world.pushToken({ serviceAccount: 'default' }) }),
        ],
        [
          'the wrong audience',
          401,
          /audience .* is not one accepted here/,
          async () => ({ token: await world.pushToken({ audience: world.kube.apiAudience }) }),
        ],
        [
          'an expired token',
          401,
          /expired/,
          async () => ({
            token: await world.pushToken({
              issuedAt: Math.floor(Date.now() / 1000) - 7200,
              lifetime: 3600,
            }),
          }),
        ],
        [
          'a JWKS without the key that signed the request',
          400,
          /lock cluster prod out/,
          async () => ({
            token: await world.pushToken(),
            body: { jwks: jwksOf(generateClusterKey('ES256')) },
          }),
        ],
        [
          'a wrong admin token',
          401,
          /neither a ServiceAccount token nor the admin token/,
          async () => ({ token: 'not-the-admin-token-but-long-enough' }),
        ],
        [
          'a private key in the JWKS',
          400,
          /private key material/,
          async () => ({
            token: await world.pushToken(),
            body: {
              jwks: {
                keys: [
                  {
                    ...(signer().privateKey.export({ format: 'jwk' }) as object),
                    kid: signer().kid,
                    use: 'sig',
                    alg: signer().alg,
                  },
                ],
              },
            },
          }),
        ],
        [
          'an RSA key with e = 1 (forgeable) beside the signing key',
          400,
          /keys\[1\]: unsafe RSA key: public exponent e is 1.*ANYONE CAN FORGE TOKENS/,
          async () => ({
            token: await world.pushToken(),
            body: {
              jwks: { keys: [signer().jwk, { ...generateClusterKey('RS256').jwk, e: 'AQ' }] },
            },
          }),
        ],
        [
          'a token with a "crit" header',
          401,
          /"crit", RFC 7515/,
          async () => ({
            token: signRawRs256(
              signer(),
              { alg: 'RS256', kid: signer().kid, crit: ['exp'], exp: 0 },
              claimsOf(await world.pushToken()),
            ),
          }),
        ],
        [
          'a discovery document with another issuer',
          400,
          /--service-account-issuer=http/,
          async () => ({
            token: await world.pushToken(),
            body: {
              ...current(),
              discovery: {
                issuer: 'https://kubernetes.default.svc',
                jwks_uri: 'https://x/openid/v1/jwks',
                response_types_supported: ['id_token'],
                subject_types_supported: ['public'],
                id_token_signing_alg_values_supported: ['RS256'],
              },
            },
          }),
        ],
        // What a push may say about where the keys were written first (sync --target wif-provider:// --api).
        ...(
          [
            ['a number', 42, /provider must be a string/],
            [
              'a pool',
              `${PROVIDER_POOL}`,
              /provider must be the resource name the keys were written to/,
            ],
            [
              'a path traversal',
              `${PROVIDER_POOL}/providers/../../x`,
              /provider must be the resource name/,
            ],
            [
              'a prefixed name',
              `//iam.googleapis.com/${PROVIDER_POOL}/providers/private-c1`,
              /provider must be the resource name/,
            ],
            [
              'a name with a newline',
              `${PROVIDER_POOL}/providers/private-c1\n`,
              /provider must be the resource name/,
            ],
            [
              'a project id for the number',
              'projects/my-proj/locations/global/workloadIdentityPools/fleet/providers/private-c1',
              /provider must be the resource name/,
            ],
            [
              'a name over 300 characters',
              `${PROVIDER_POOL}/providers/${'a'.repeat(400)}`,
              /provider is at most 300 characters/,
            ],
          ] as const
        ).map(
          ([what, provider, message]) =>
            [
              `a provider that is ${what}`,
              400,
              message,
              async () => ({ token: await world.pushToken(), body: { ...current(), provider } }),
            ] as [string, number, RegExp, () => Promise<{ token?: string; body?: unknown }>],
        ),
      ];

      it.each(cases)('%s → %i', async (_name, status, message, make) => {
        const before = await record(world);
        const served = await world.published();
        const { token, body } = await make();
        const res = await push(world, token, body ?? current());
        expect(res.status).toBe(status);
        expect(res.json.error.message).toMatch(message);
        if (token) expect(JSON.stringify(res.json)).not.toContain(token.split('.')[2]);
        expect(await record(world)).toEqual(before);
        expect(await world.published()).toEqual(served);
      });

      const transport: Array<
        [
          string,
          number,
          RegExp,
          () => Promise<{ headers: Record<string, string>; body: string; path?: string }>,
        ]
      > = [
        [
          'Basic instead of Bearer',
          400,
          /Authorization header is malformed/,
          async () => ({
            headers: {
              authorization: 'Basic YWRtaW46YWRtaW4=',
              'content-type': 'application/json',
            },
            body: JSON.stringify(current()),
          }),
        ],
        [
          'a 12 KiB garbage bearer',
          401,
          /token header is not base64url JSON/,
          async () => ({
            headers: {
              authorization: `Bearer ${'a'.repeat(6_000)}.${'b'.repeat(6_000)}.c`,
              'content-type': 'application/json',
            },
            body: JSON.stringify(current()),
          }),
        ],
        [
          'an unsigned token (alg none)',
          401,
          /only RS256 and ES256/,
          async () => {
            const [, payload] = (await world.pushToken()).split('.');
            return {
              headers: {
                authorization: `Bearer ${Buffer.from('{"alg":"none","kid":"x"}').toString('base64url')}.${payload}.`,
                'content-type': 'application/json',
              },
              body: JSON.stringify(current()),
            };
          },
        ],
        [
          'a text/plain body',
          415,
          /Content-Type: application\/json/,
          async () => ({
            headers: {
              authorization: `Bearer ${await world.pushToken()}`,
              'content-type': 'text/plain',
            },
            body: JSON.stringify(current()),
          }),
        ],
        [
          'a body that is not JSON',
          400,
          /not valid JSON/,
          async () => ({
            headers: {
              authorization: `Bearer ${await world.pushToken()}`,
              'content-type': 'application/json',
            },
            body: '{"jwks": ',
          }),
        ],
        [
          'a 300 KiB body',
          413,
          /larger than 256 KiB/,
          async () => ({
            headers: {
              authorization: `Bearer ${await world.pushToken()}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({ ...current(), pad: 'x'.repeat(300 * 1024) }),
          }),
        ],
        [
          'an unknown field',
          400,
          /unrecognized key/i,
          async () => ({
            headers: {
              authorization: `Bearer ${await world.pushToken()}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({ ...current(), issuer: 'https://evil.example' }),
          }),
        ],
        // Issue #10 item 6: no longer a 404, which let anyone list clusters; the same 401 as a wrong key.
        [
          'an unknown cluster',
          401,
          /does not verify with the keys on record for cluster "ghost".*no keys on record yet/,
          async () => ({
            path: '/api/v1/clusters/ghost/keys',
            headers: {
              authorization: `Bearer ${await world.pushToken()}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify(current()),
          }),
        ],
        [
          'a cluster id that is not a DNS label',
          400,
          /not a DNS label/,
          async () => ({
            path: '/api/v1/clusters/..%2Fprod/keys',
            headers: {
              authorization: `Bearer ${await world.pushToken()}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify(current()),
          }),
        ],
      ];

      it.each(transport)('%s → %i', async (_name, status, message, make) => {
        const before = await record(world);
        const { headers, body, path } = await make();
        const res = await fetch(
          `${world.serve.url}${path ?? `/api/v1/clusters/${world.cluster}/keys`}`,
          { method: 'PUT', headers, body },
        );
        expect(res.status).toBe(status);
        const json = (await res.json()) as { error: { message: string } };
        expect(json.error.message).toMatch(message);
        expect(await record(world)).toEqual(before);
      });

      it('a cluster with no keys on record yet cannot authenticate a push', async () => {
        expect((await world.api.call('POST', '/api/v1/clusters', { id: 'keyless' })).status).toBe(
          201,
        );
        const res = await push(
          world,
          await signKubeToken(world.kube.signingKey, {
            issuer: `${world.serve.url}/keyless`,
            audience: world.serve.url,
            namespace: SYNC_NAMESPACE,
            serviceAccount: SYNC_SERVICE_ACCOUNT,
          }),
          current(),
          'keyless',
        );
        expect(res.status).toBe(401);
        expect(res.json.error.message).toMatch(
          /no keys on record yet.*an administrator uploads the first keys/,
        );
      });

      it('a token of one cluster cannot push to another', async () => {
        const other = await world.api.call('POST', '/api/v1/clusters', {
          id: 'other',
          jwks: jwksOf(generateClusterKey('RS256')),
        });
        expect(other.status).toBe(201);
        const res = await push(world, await world.pushToken(), current(), 'other');
        expect(res.status).toBe(401);
        expect(await record(world, 'other')).toEqual(other.json.cluster);
      });

      it('the admin token still force-replaces keys (break-glass)', async () => {
        const replacement = generateClusterKey('ES256');
        const res = await fetch(`${world.serve.url}/api/v1/clusters/other/keys`, {
          method: 'PUT',
          headers: {
            authorization: `Bearer ${world.serve.adminToken}`,
            'content-type': 'application/json',
          },
          body: JSON.stringify({ jwks: jwksOf(replacement) }),
        });
        expect(res.status).toBe(200);
        expect((await record(world, 'other')).keyEvents.at(-1)).toMatchObject({
          source: 'admin',
          added: [replacement.kid],
        });
      });
    });

    it('serializes 50 concurrent pushes with different contents: the final state is one of them and the history is consistent', async () => {
      const signerKey = generateClusterKey('RS256');
      const created = await world.api.call('POST', '/api/v1/clusters', {
        id: 'busy',
        jwks: jwksOf(signerKey),
      });
      expect(created.status).toBe(201);
      const token = await signKubeToken(signerKey, {
        issuer: `${world.serve.url}/busy`,
        audience: world.serve.url,
        namespace: SYNC_NAMESPACE,
        serviceAccount: SYNC_SERVICE_ACCOUNT,
      });
      const extras = Array.from({ length: 50 }, () => generateClusterKey('ES256'));
      const results = await Promise.all(
        extras.map((extra) => push(world, token, { jwks: jwksOf(signerKey, extra) }, 'busy')),
      );

      const ok = results.filter((r) => r.status === 200);
      for (const r of results) {
        if (r.status !== 200) {
          expect(r.status).toBe(409);
          expect(r.json.error.code).toBe('conflict');
          expect(r.json.error.message).toMatch(/retry/);
        }
      }
      expect(ok.length).toBeGreaterThan(0);
      // Every accepted push was a change, and each took its own version: no write was lost or merged.
      expect(ok.every((r) => r.json.changed === true)).toBe(true);
      const versions = ok.map((r) => r.json.cluster.version as number).sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: ok.length }, (_, i) => i + 2));

      const final = await record(world, 'busy');
      expect(final.version).toBe(1 + ok.length);
      const finalKids = final.keys.map((k: { kid: string }) => k.kid).sort();
      const pushedSets = ok.map((r) =>
        r.json.cluster.keys.map((k: { kid: string }) => k.kid).sort(),
      );
      expect(pushedSets).toContainEqual(finalKids);
      // The last accepted version is the state on record.
      expect(ok.find((r) => r.json.cluster.version === final.version)!.json.cluster.keys).toEqual(
        final.keys,
      );

      // History: each event replaces the previous extra key with its own, ending at the final state.
      const events = (final.keyEvents as KeyEvent[]).filter((e) => e.source === 'sync');
      expect(events.length).toBe(Math.min(ok.length, 50));
      for (let i = 1; i < events.length; i++) {
        expect(events[i]!.removed).toEqual(events[i - 1]!.added);
        expect(events[i]!.at >= events[i - 1]!.at).toBe(true);
      }
      expect(finalKids).toEqual([signerKey.kid, events.at(-1)!.added[0]].sort());
      expect(await (await fetch(`${world.serve.url}/busy/openid/v1/jwks`)).json()).toEqual({
        keys: final.keys.map(
          (k: { kid: string }) => extras.concat(signerKey).find((x) => x.kid === k.kid)!.jwk,
        ),
      });
      if (world.gcs) {
        const fromBucket = (await (
          await fetch(`${world.gcs.gcs.url}/${world.gcs.bucket}/issuers/busy/openid/v1/jwks`)
        ).json()) as { keys: Array<{ kid: string }> };
        expect(fromBucket.keys.map((k) => k.kid).sort()).toEqual(finalKids);
      }
    });
  });
}
