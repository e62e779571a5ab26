import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { startNodeIdentity, type RunningNodeIdentity } from '../../src/metadata/node-identity.js';
import { startFakeKubeCluster, type FakeKubeCluster } from '../fakes/kube-pods.js';
import { jwksOf } from '../support/keys.js';
import { waitFor } from '../support/webhook.js';
import {
  createPodNetwork,
  getFrom,
  netnsUnavailable,
  removePodNetwork,
  type FakePodNetwork,
} from './netns.js';

/**
 * Node mode with real source addresses: network namespaces are the pods, the resolver runs in
 * the root namespace on live informers against the kube-apiserver fake (pods, ServiceAccounts,
 * TokenRequest), behind a small HTTP server that answers with what the resolver decided.
 */

const NODE = 'node-a';
const AUDIENCE =
  '//iam.googleapis.com/projects/123456789/locations/global/workloadIdentityPools/on-prem/providers/cluster-a';
const GSA = 'web-reader@my-project-1.iam.gserviceaccount.com';
const skipReason = netnsUnavailable();
if (skipReason) console.warn(`node mode tests skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)(
  'node mode: pods identified by their source address',
  () => {
    let clock = Date.parse('2030-01-01T00:00:00Z');
    const now = () => clock;
    let kube: FakeKubeCluster;
    let resolver: RunningNodeIdentity;
    let dir: string;
    const networks: FakePodNetwork[] = [];
    const servers: Server[] = [];
    const urls: string[] = [];

    beforeAll(async () => {
      for (let i = 0; i < 4; i++) networks.push(await createPodNetwork(i));
      const [web, batch, shared, host] = networks as [
        FakePodNetwork,
        FakePodNetwork,
        FakePodNetwork,
        FakePodNetwork,
      ];
      kube = await startFakeKubeCluster({
        now,
        serviceAccounts: [
          {
            namespace: 'apps',
            name: 'web',
            annotations: { 'iam.gke.io/gcp-service-account': GSA },
          },
          { namespace: 'jobs', name: 'batch' },
          { namespace: 'apps', name: 'default' },
        ],
        pods: [
          {
            namespace: 'apps',
            name: 'web-1',
            serviceAccountName: 'web',
            nodeName: NODE,
            podIP: web.podIp,
          },
          {
            namespace: 'jobs',
            name: 'batch-1',
            serviceAccountName: 'batch',
            nodeName: NODE,
            podIP: batch.podIp,
          },
          // Not this node's, or finished: they must not make the pods above ambiguous.
          {
            namespace: 'apps',
            name: 'elsewhere',
            serviceAccountName: 'web',
            nodeName: 'node-b',
            podIP: web.podIp,
          },
          {
            namespace: 'jobs',
            name: 'batch-0',
            serviceAccountName: 'batch',
            nodeName: NODE,
            podIP: batch.podIp,
            phase: 'Succeeded',
          },
          { namespace: 'apps', name: 'twin-a', nodeName: NODE, podIP: shared.podIp },
          { namespace: 'apps', name: 'twin-b', nodeName: NODE, podIP: shared.podIp },
          {
            namespace: 'apps',
            name: 'agent',
            nodeName: NODE,
            podIP: host.podIp,
            hostNetwork: true,
          },
        ],
      });
      dir = await mkdtemp(join(tmpdir(), 'idbridge-node-mode-'));
      const kubeConfig = new KubeConfig();
      kubeConfig.loadFromFile(await kube.writeKubeconfig(dir));
      resolver = await startNodeIdentity({
        kubeConfig,
        logger: createLogger(() => {}),
        nodeName: NODE,
        audience: AUDIENCE,
        tokenUrl: 'https://sts.googleapis.com/v1/token',
        iamCredentialsUrl: 'https://iamcredentials.googleapis.com',
        now,
      });
      await waitFor(
        () => resolver.ready() && resolver.pods.size === 5,
        'the pod informer to list this node',
      );
      for (const network of networks) {
        const server = createServer((req, res) => {
          void (async () => {
            const answer = await resolver.resolve({
              remoteAddress: req.socket.remoteAddress ?? '',
            });
            if (!answer.ok) {
              res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.message);
              return;
            }
            const { subjectToken, ...identity } = answer.identity;
            const token = await subjectToken();
            res
              .writeHead(200, { 'content-type': 'application/json' })
              .end(JSON.stringify({ identity, token }));
          })().catch((err: unknown) => res.writeHead(500).end(String(err)));
        });
        await new Promise<void>((resolve) => server.listen(0, network.hostIp, resolve));
        servers.push(server);
        urls.push(`http://${network.hostIp}:${(server.address() as AddressInfo).port}/`);
      }
    }, 60_000);

    afterAll(async () => {
      for (const server of servers) await new Promise((resolve) => server.close(resolve));
      await resolver?.close();
      await kube?.close();
      for (const network of networks) await removePodNetwork(network);
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('two pods with different ServiceAccounts each get their own identity and a TokenRequest token bound to them', async () => {
      const web = await getFrom(networks[0]!, urls[0]!);
      expect(web.status, web.body).toBe(200);
      const webAnswer = JSON.parse(web.body) as {
        identity: Record<string, unknown>;
        token: string;
      };
      expect(webAnswer.identity).toEqual({
        namespace: 'apps',
        serviceAccount: 'web',
        googleServiceAccount: GSA,
        audience: AUDIENCE,
        tokenUrl: 'https://sts.googleapis.com/v1/token',
        iamCredentialsUrl: 'https://iamcredentials.googleapis.com',
        key: `apps/web/${GSA}/${AUDIENCE}`,
      });
      const { payload } = await jwtVerify(webAnswer.token, createLocalJWKSet(jwksOf(kube.key)), {
        issuer: kube.issuer,
        audience: AUDIENCE,
        currentDate: new Date(clock),
      });
      expect(payload.sub).toBe('system:serviceaccount:apps:web');
      expect((payload['kubernetes.io'] as { pod: { name: string } }).pod.name).toBe('web-1');
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(3600);

      const batch = await getFrom(networks[1]!, urls[1]!);
      expect(batch.status, batch.body).toBe(200);
      const batchAnswer = JSON.parse(batch.body) as {
        identity: Record<string, unknown>;
        token: string;
      };
      expect(batchAnswer.identity).toMatchObject({
        namespace: 'jobs',
        serviceAccount: 'batch',
        key: `jobs/batch//${AUDIENCE}`,
      });
      expect(batchAnswer.identity.googleServiceAccount).toBeUndefined();
      expect(decodeJwt(batchAnswer.token).sub).toBe('system:serviceaccount:jobs:batch');

      expect(kube.pods.tokenRequests).toEqual([
        {
          namespace: 'apps',
          serviceAccount: 'web',
          audiences: [AUDIENCE],
          expirationSeconds: 3600,
          boundPod: 'apps/web-1',
        },
        {
          namespace: 'jobs',
          serviceAccount: 'batch',
          audiences: [AUDIENCE],
          expirationSeconds: 3600,
          boundPod: 'jobs/batch-1',
        },
      ]);
    });

    it('caches the pod token until 80 % of its life, then asks TokenRequest again', async () => {
      const before = kube.pods.tokenRequests.length;
      expect((await getFrom(networks[0]!, urls[0]!)).status).toBe(200);
      expect(kube.pods.tokenRequests.length).toBe(before);
      clock += 0.79 * 3600_000;
      expect((await getFrom(networks[0]!, urls[0]!)).status).toBe(200);
      expect(kube.pods.tokenRequests.length).toBe(before);
      clock += 0.02 * 3600_000;
      expect((await getFrom(networks[0]!, urls[0]!)).status).toBe(200);
      expect(kube.pods.tokenRequests.length).toBe(before + 1);
    });

    it('several pods with one address: 403, naming them', async () => {
      const answer = await getFrom(networks[2]!, urls[2]!);
      expect(answer.status).toBe(403);
      expect(answer.body).toMatch(
        /2 pods on node node-a have the address 10\.200\.\d+\.2 \(apps\/twin-a, apps\/twin-b\)/,
      );
    });

    it('a host-network pod: 403, pointing at the sidecar', async () => {
      const answer = await getFrom(networks[3]!, urls[3]!);
      expect(answer.status).toBe(403);
      expect(answer.body).toMatch(/host-network pods such as apps\/agent.*sidecar/);
    });

    it('a pod that is gone (watch DELETED) is no longer answered: 403', async () => {
      kube.pods.removePod('jobs', 'batch-1');
      await waitFor(() => resolver.pods.size === 4, 'the informer to drop the pod');
      const answer = await getFrom(networks[1]!, urls[1]!);
      expect(answer.status).toBe(403);
      expect(answer.body).toMatch(/no running pod on node node-a has the address/);
      expect(kube.pods.tokenRequests.filter((r) => r.boundPod === 'apps/twin-a')).toEqual([]);
    });
  },
);
