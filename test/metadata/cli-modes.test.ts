import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalFor, type FakeProvider } from '../fakes/google.js';
import { startFakeKubeCluster, type FakeKubeCluster } from '../fakes/kube-pods.js';
import { jwksOf } from '../support/keys.js';
import { IDBRIDGE_BIN, registerCluster } from '../support/serve.js';
import {
  GSA,
  metadataGet,
  spawnMetadataServer,
  startMetadataWorld,
  type MetadataWorld,
  type SpawnedMetadataServer,
} from './world.js';

/**
 * The `metadata-server` command's modes as the DaemonSet and the webhook start them: `--mode node`
 * with the node-mode flags against the kube-apiserver fake (pods, TokenRequest) and the fake Google,
 * and the sidecar's bare `--link-local` flag running the link-local setup before it listens.
 */

const NODE = 'node-a';
const NODE_PROVIDER =
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/idbridge-node';
const NODE_GSA = 'node-web@proj-abc12.iam.gserviceaccount.com';

/** Runs the CLI to its exit; for configurations refused before anything listens. */
function runCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [IDBRIDGE_BIN, 'metadata-server', ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('exit', (code) => resolve({ code, stderr }));
  });
}

describe('metadata-server --mode node (the DaemonSet)', () => {
  let world: MetadataWorld;
  let kube: FakeKubeCluster;
  let server: SpawnedMetadataServer;

  beforeAll(async () => {
    world = await startMetadataWorld();
    // The kube fake's TokenRequest tokens carry the issuer that serve publishes as cluster c2.
    kube = await startFakeKubeCluster({
      issuer: `${world.issuer.url}/c2`,
      serviceAccounts: [
        {
          namespace: 'apps',
          name: 'web',
          annotations: { 'iam.gke.io/gcp-service-account': NODE_GSA },
        },
      ],
      // This test's requests come from 127.0.0.1: the pod that owns that address on this node.
      pods: [
        {
          namespace: 'apps',
          name: 'web-1',
          serviceAccountName: 'web',
          nodeName: NODE,
          podIP: '127.0.0.1',
        },
      ],
    });
    await registerCluster(world.issuer, 'c2', jwksOf(kube.key));
    const provider: FakeProvider = { path: NODE_PROVIDER, issuerUri: `${world.issuer.url}/c2` };
    world.google.providers.push(provider);
    world.google.serviceAccounts.push({
      email: NODE_GSA,
      workloadIdentityUsers: [principalFor(provider, 'system:serviceaccount:apps:web')],
    });
    server = await spawnMetadataServer([
      '--mode',
      'node',
      '--host',
      '127.0.0.1',
      '--node-name',
      NODE,
      '--audience',
      NODE_PROVIDER,
      '--token-url',
      `${world.google.url}/v1/token`,
      '--iam-credentials-url',
      world.google.url,
      '--kubeconfig',
      await kube.writeKubeconfig(world.dir),
      '--project-id',
      'proj-abc12',
    ]);
  });

  afterAll(async () => {
    await server?.stop();
    await kube?.close();
    await world?.close();
  });

  it("is ready once the node's pod list is loaded, and answers as the pod that owns the source address", async () => {
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    const email = await metadataGet(
      `${server.url}/computeMetadata/v1/instance/service-accounts/default/email`,
    );
    expect([email.status, await email.text()]).toEqual([200, NODE_GSA]);
    const project = await metadataGet(`${server.url}/computeMetadata/v1/project/project-id`);
    expect(await project.text()).toBe('proj-abc12');
    const numeric = await metadataGet(
      `${server.url}/computeMetadata/v1/project/numeric-project-id`,
    );
    expect(await numeric.text()).toBe('123456');
  });

  it("gets the pod's token with TokenRequest, exchanges it and impersonates the pod's Google service account", async () => {
    const answer = await metadataGet(
      `${server.url}/computeMetadata/v1/instance/service-accounts/default/token`,
    );
    expect([answer.status, answer.status === 200 ? '' : await answer.text()]).toEqual([200, '']);
    const body = (await answer.json()) as { access_token: string; token_type: string };
    expect(body.token_type).toBe('Bearer');
    expect(body.access_token.length).toBeGreaterThan(10);
    expect(
      kube.pods.tokenRequests.some(
        (request) => request.namespace === 'apps' && request.serviceAccount === 'web',
      ),
    ).toBe(true);
  });
});

describe('metadata-server configuration refusals', () => {
  const node = ['--mode', 'node', '--node-name', NODE, '--audience', NODE_PROVIDER];

  it('node mode without --project-id: exit 2 naming the flag', async () => {
    const { code, stderr } = await runCli(node);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /--project-id \(IDBRIDGE_METADATA_PROJECT_ID\): node mode needs the project id/,
    );
  });

  it('node mode with --link-local or a credential configuration: exit 2, each named', async () => {
    const { code, stderr } = await runCli([
      ...node,
      '--project-id',
      'proj-abc12',
      '--link-local',
      '--credential-config',
      '/c.json',
    ]);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /--link-local \(IDBRIDGE_METADATA_LINK_LOCAL\): link-local is a sidecar variant/,
    );
    expect(stderr).toMatch(
      /--credential-config \(IDBRIDGE_METADATA_CREDENTIAL_CONFIG\): node mode gets each pod's token with TokenRequest/,
    );
  });

  it('an unknown mode: exit 2 naming the accepted ones', async () => {
    const { code, stderr } = await runCli(['--mode', 'daemon']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--mode \(IDBRIDGE_METADATA_MODE\).*must be sidecar or node/);
  });

  it('sidecar mode still requires the credential configuration', async () => {
    const { code, stderr } = await runCli([]);
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /--credential-config \(IDBRIDGE_METADATA_CREDENTIAL_CONFIG\): the credential configuration file is required/,
    );
  });
});

describe('metadata-server --link-local (what the webhook injects)', () => {
  let world: MetadataWorld;
  beforeAll(async () => {
    world = await startMetadataWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  it('a bare --link-local runs the address setup first: without `ip` on PATH it exits naming iproute2, before listening', async () => {
    // PATH without `ip`: the setup fails at execFile (ENOENT) and nothing on this machine changes.
    const { code, stderr } = await runCli(
      [
        '--credential-config',
        await world.credentialConfig('link-local', GSA),
        '--port',
        '0',
        '--link-local',
      ],
      { PATH: '/nonexistent' },
    );
    expect(code).toBe(2);
    expect(stderr).toMatch(/--link-local needs the "ip" command \(iproute2\) in the image/);
  });
});
