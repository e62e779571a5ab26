import { afterEach, describe, expect, it } from 'vitest';
import { UpstreamClient } from '../../src/broker/upstream.js';
import {
  startMetadataServer,
  type RunningMetadataServer,
} from '../../src/hosts/node/metadata-server.js';
import { createLogger } from '../../src/log/logger.js';
import type { InstanceView } from '../../src/metadata/api.js';
import type { IdentityAnswer, IdentityResolver, PodIdentity } from '../../src/metadata/identity.js';
import { TokenSource } from '../../src/metadata/token-source.js';

/**
 * The Node host around the decisions: a resolver that answers at once or later, or fails either
 * way, is answered in the server's own text shape, and the server keeps answering.
 */
const IDENTITY: PodIdentity = {
  namespace: 'apps',
  serviceAccount: 'web',
  audience: '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x',
  tokenUrl: 'http://127.0.0.1:9/v1/token',
  iamCredentialsUrl: 'http://127.0.0.1:9',
  subjectToken: () => Promise.resolve('unused'),
  key: 'apps/web//x',
};
const VIEW: InstanceView = {
  projectId: 'proj-abc12',
  kubernetesServiceAccount: 'apps/web',
  universeDomain: 'googleapis.com',
  attributes: {},
};
const FLAVOR = { 'metadata-flavor': 'Google' };
const EMAIL = '/computeMetadata/v1/instance/service-accounts/default/email';

describe('metadata host', () => {
  let running: RunningMetadataServer | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });

  async function serve(resolve: IdentityResolver['resolve']) {
    const lines: string[] = [];
    running = await startMetadataServer({
      resolver: { resolve },
      viewOf: () => VIEW,
      tokens: new TokenSource({ upstream: new UpstreamClient({ timeoutMs: 1_000, attempts: 1 }) }),
      readiness: () => Promise.resolve({ ready: true }),
      logger: createLogger((line) => lines.push(line)),
      listen: [{ host: '127.0.0.1', port: 0 }],
    });
    const get = async (path: string) => {
      const res = await fetch(`${running!.url}${path}`, { headers: FLAVOR });
      return {
        status: res.status,
        flavor: res.headers.get('metadata-flavor'),
        body: await res.text(),
      };
    };
    return { get, lines };
  }

  const ok: IdentityAnswer = { ok: true, identity: IDENTITY };
  const cases: Array<{ name: string; resolve: IdentityResolver['resolve'] }> = [
    { name: 'at once', resolve: () => ok },
    { name: 'later', resolve: () => new Promise((r) => setTimeout(() => r(ok), 5)) },
  ];
  it.each(cases)('a resolver that answers $name: the same answer', async ({ resolve }) => {
    const { get } = await serve(resolve);
    expect(await get(EMAIL)).toEqual({
      status: 200,
      flavor: 'Google',
      body: 'proj-abc12.svc.id.goog',
    });
  });

  const failing: Array<{ name: string; resolve: IdentityResolver['resolve'] }> = [
    {
      name: 'throws',
      resolve: () => {
        throw new Error('resolver bug');
      },
    },
    { name: 'rejects', resolve: () => Promise.reject(new Error('resolver bug')) },
  ];
  it.each(failing)(
    'a resolver that $name: 500 in the text shape, logged, still serving',
    async ({ resolve }) => {
      const { get, lines } = await serve(resolve);
      for (let i = 0; i < 2; i++) {
        expect(await get(EMAIL)).toEqual({
          status: 500,
          flavor: 'Google',
          body: 'the metadata server failed to answer; see its log\n',
        });
      }
      expect(lines.filter((l) => l.includes('"metadata request failed"'))).toHaveLength(2);
      expect(lines.join('')).toContain('resolver bug');
      // Requests that need no identity are still answered.
      expect((await fetch(`${running!.url}/healthz`)).status).toBe(200);
    },
  );
});
