import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { GoogleAuth } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principalFor, startFakeGoogle, type FakeGoogle } from '../fakes/google.js';
import { gcloud } from '../support/gcloud.js';
import { generateClusterKey, jwksOf, signKubeToken, type ClusterKey } from '../support/keys.js';
import { startServe, tempDir, type ServeHarness } from '../support/serve.js';
import { startWebhookHarness, type WebhookHarness } from '../support/webhook.js';
import { useWebhook } from './fixtures.js';
import { applyAndValidate, envOf, type PodObject } from './pod-checks.js';

/**
 * What a mutated pod sees, read by the real clients: the webhook renders the configuration into
 * the pod; a stand-in for kubelet writes the projected token (signed by the cluster's key, with
 * the audience and lifetime the patch asked for) and the downwardAPI file under a directory that
 * plays the container's root; google-auth-library and gcloud, given only the container's
 * environment, obtain tokens from the token_url the webhook wrote.
 *
 * The token_url is a parameter: today the fake Google STS (what a cluster with a direct route
 * gets), and the idbridge broker in front of it.
 */

const IMPERSONATING =
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1';
const DIRECT =
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1-direct';
const GSA = 'app@proj-abc12.iam.gserviceaccount.com';
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];

interface FlowWorld {
  google: FakeGoogle;
  issuer: ServeHarness;
}
/** Where the pod's configuration points token_url (and, through it, the impersonation URL). */
type TokenEndpoint = (
  world: FlowWorld,
) => Promise<{ tokenUrl: string; close?: () => Promise<void> }>;

interface MountedPod {
  root: string;
  env: Record<string, string>;
  config: Record<string, unknown>;
}

function describeCredentialFlow(label: string, endpoint: TokenEndpoint): void {
  describe(`a mutated pod's credentials, read by google-auth-library and gcloud (token_url: ${label})`, () => {
    const key: ClusterKey = generateClusterKey('RS256');
    let google: FakeGoogle;
    let issuer: ServeHarness;
    let webhook: WebhookHarness;
    let endpointClose: (() => Promise<void>) | undefined;
    let dir: Awaited<ReturnType<typeof tempDir>>;

    beforeAll(async () => {
      dir = await tempDir('idbridge-pod-');
      // Google first, so an issuer that brokers can be pointed at it; providers are added once the issuer has a URL.
      google = await startFakeGoogle();
      issuer = await startServe({
        IDBRIDGE_STS_URL: google.url,
        IDBRIDGE_IAMCREDENTIALS_URL: google.url,
      });
      const res = await fetch(`${issuer.url}/api/v1/clusters`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${issuer.adminToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ id: 'c1', jwks: jwksOf(key) }),
      });
      expect(res.status).toBe(201);
      const issuerUri = `${issuer.url}/c1`;
      // A provider set up for the GCP webhook's default audience, and one left at Google's default.
      const impersonating = {
        path: IMPERSONATING,
        issuerUri,
        allowedAudiences: ['sts.googleapis.com'],
      };
      google.providers.push(impersonating, { path: DIRECT, issuerUri });
      google.serviceAccounts.push({
        email: GSA,
        workloadIdentityUsers: [principalFor(impersonating, 'system:serviceaccount:apps:web')],
      });

      const { tokenUrl, close } = await endpoint({ google, issuer });
      endpointClose = close;
      webhook = await startWebhookHarness({
        serviceAccounts: [
          {
            namespace: 'apps',
            name: 'web',
            annotations: {
              'cloud.google.com/workload-identity-provider': IMPERSONATING,
              'cloud.google.com/service-account-email': GSA,
            },
          },
          {
            namespace: 'apps',
            name: 'direct',
            annotations: {
              'idbridge.dev/direct-access': 'true',
              'idbridge.dev/project-id': 'direct-proj',
            },
          },
        ],
        env: { IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER: DIRECT, IDBRIDGE_WEBHOOK_TOKEN_URL: tokenUrl },
      });
    });
    afterAll(async () => {
      await webhook?.close();
      await endpointClose?.();
      await issuer?.close();
      await google?.close();
      await dir?.remove();
    });

    /** Admission, then what kubelet does for the pod's volumes, under `root` instead of `/`. */
    async function admitAndMount(serviceAccountName: string): Promise<MountedPod> {
      const pod: PodObject = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${serviceAccountName}-1`, namespace: 'apps' },
        spec: { serviceAccountName, containers: [{ name: 'app', image: 'google/cloud-sdk:slim' }] },
      };
      const answer = await webhook.review(pod);
      expect(answer.review.response.allowed).toBe(true);
      const patched = applyAndValidate(pod, answer.patch);
      const root = await mkdtemp(join(dir.path, 'root-'));
      const reroot = (path: string) => join(root, path);

      const projection = (
        patched.spec.volumes!.find((v) => v.name === 'gcp-iam-token') as unknown as {
          projected: {
            sources: Array<{
              serviceAccountToken: { audience: string; expirationSeconds: number; path: string };
            }>;
          };
        }
      ).projected.sources[0]!.serviceAccountToken;
      const tokenMount = patched.spec.containers[0]!.volumeMounts!.find(
        (m) => m.name === 'gcp-iam-token',
      )!;
      const tokenFile = reroot(join(tokenMount.mountPath, projection.path));
      await mkdir(dirname(tokenFile), { recursive: true });
      await writeFile(
        tokenFile,
        await signKubeToken(key, {
          issuer: `${issuer.url}/c1`,
          audience: projection.audience,
          namespace: 'apps',
          serviceAccount: serviceAccountName,
          lifetime: projection.expirationSeconds,
        }),
      );

      const annotation =
        patched.metadata.annotations!['cloud.google.com/external-credentials-json']!;
      const config = JSON.parse(annotation) as Record<string, unknown> & {
        credential_source: { file: string };
      };
      const configMount = patched.spec.containers[0]!.volumeMounts!.find(
        (m) => m.name === 'external-credential-config',
      )!;
      const configFile = reroot(join(configMount.mountPath, 'federation.json'));
      await mkdir(dirname(configFile), { recursive: true });
      // The one change kubelet's mount makes: the token is at the same path inside `root`.
      await writeFile(
        configFile,
        JSON.stringify({
          ...config,
          credential_source: {
            ...config.credential_source,
            file: reroot(config.credential_source.file),
          },
        }),
      );
      await mkdir(
        reroot(
          patched.spec.containers[0]!.volumeMounts!.find((m) => m.name === 'cloudsdk-config')!
            .mountPath,
        ),
        { recursive: true },
      );

      const env = Object.fromEntries(
        Object.entries(envOf(patched.spec.containers[0]!)).map(([name, value]) => [
          name,
          value!.startsWith('/var/run/') ? reroot(value!) : value!,
        ]),
      );
      return { root, env, config };
    }

    it('impersonation: the configuration names the token_url, and google-auth-library gets a service account token', async () => {
      const pod = await admitAndMount('web');
      const tokenUrl = String(pod.config.token_url);
      expect(tokenUrl.endsWith('/v1/token')).toBe(true);
      expect(pod.config.service_account_impersonation_url).toBe(
        `${tokenUrl.slice(0, -'/v1/token'.length)}/v1/projects/-/serviceAccounts/${GSA}:generateAccessToken`,
      );
      expect(pod.env.GOOGLE_CLOUD_PROJECT).toBe('proj-abc12');
      const token = await new GoogleAuth({
        keyFilename: pod.env.GOOGLE_APPLICATION_CREDENTIALS,
        scopes: SCOPES,
      }).getAccessToken();
      expect(token).toMatch(/^ya29\.sa\./);
      expect(google.tokenRequests.at(-1)).toMatchObject({
        audience: `//iam.googleapis.com/${IMPERSONATING}`,
      });
    });

    it('impersonation: gcloud, with only the container environment, prints a token and knows the project', async () => {
      const pod = await admitAndMount('web');
      const printed = await gcloud(
        ['auth', 'print-access-token'],
        pod.env.CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE!,
        pod.env,
      );
      expect(printed.stderr).toBe('');
      expect(printed.stdout).toMatch(/^ya29\.sa\./);
      const project = await gcloud(
        ['config', 'get-value', 'project'],
        pod.env.CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE!,
        pod.env,
      );
      expect(project.stdout).toBe('proj-abc12');
    });

    it('direct principal access: google-auth-library and gcloud get the federated token itself', async () => {
      const pod = await admitAndMount('direct');
      expect(pod.config.service_account_impersonation_url).toBeUndefined();
      const token = await new GoogleAuth({
        keyFilename: pod.env.GOOGLE_APPLICATION_CREDENTIALS,
        scopes: SCOPES,
      }).getAccessToken();
      expect(token).toMatch(/^ya29\.fed\./);
      const printed = await gcloud(
        ['auth', 'print-access-token'],
        pod.env.CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE!,
        pod.env,
      );
      expect(printed.stdout).toMatch(/^ya29\.fed\./);
      // gcloud's CLOUDSDK_CONFIG is the writable emptyDir the webhook mounted.
      expect(pod.env.CLOUDSDK_CONFIG).toBe(join(pod.root, '/var/run/secrets/gcloud/cloudsdk'));
    });
  });
}

// One line per token endpoint.
describeCredentialFlow('the fake Google STS', async ({ google }) => ({
  tokenUrl: `${google.url}/v1/token`,
}));
// The idbridge broker (idbridge serve, forwarding to the fake Google). The GCP webhook's default
// token audience is sts.googleapis.com, which the cluster's broker policy must then accept, next
// to the providers' own resource names (direct access uses those).
describeCredentialFlow('the idbridge broker', async ({ issuer }) => {
  const res = await fetch(`${issuer.url}/api/v1/clusters/c1`, {
    method: 'PATCH',
    headers: { authorization: `Bearer ${issuer.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      broker: {
        audiences: [
          'sts.googleapis.com',
          `//iam.googleapis.com/${DIRECT}`,
          `https://iam.googleapis.com/${DIRECT}`,
        ],
      },
    }),
  });
  expect(res.status).toBe(200);
  return { tokenUrl: `${issuer.url}/v1/token` };
});

const run = promisify(execFile);

describe('the rendered configuration is the one gcloud create-cred-config writes', () => {
  let configDir: string;
  beforeAll(async () => {
    configDir = await mkdtemp(join(tmpdir(), 'gcloud-oracle-'));
  });
  afterAll(async () => {
    await rm(configDir, { recursive: true, force: true });
  });
  const webhook = useWebhook({
    serviceAccounts: [
      {
        namespace: 'apps',
        name: 'web',
        annotations: {
          'cloud.google.com/workload-identity-provider': IMPERSONATING,
          'cloud.google.com/service-account-email': GSA,
          'idbridge.dev/token-lifetime': '1800',
        },
      },
      {
        namespace: 'apps',
        name: 'direct',
        annotations: {
          'cloud.google.com/workload-identity-provider': DIRECT,
          'idbridge.dev/direct-access': 'true',
        },
      },
    ],
  });

  const oracle = async (args: string[]) => {
    const output = join(configDir, `out-${args.length}.json`);
    await run(
      'gcloud',
      [
        'iam',
        'workload-identity-pools',
        'create-cred-config',
        ...args,
        '--credential-source-file=/var/run/secrets/sts.googleapis.com/serviceaccount/token',
        '--credential-source-type=text',
        `--output-file=${output}`,
      ],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: configDir,
          CLOUDSDK_CONFIG: configDir,
          CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
          CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: '1',
        },
      },
    );
    return JSON.stringify(JSON.parse(await readFile(output, 'utf8')));
  };
  const rendered = async (serviceAccountName: string) => {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'apps' },
      spec: { serviceAccountName, containers: [{ name: 'app', image: 'x' }] },
    };
    const patched = applyAndValidate(pod, (await webhook().review(pod)).patch);
    return patched.metadata.annotations!['cloud.google.com/external-credentials-json'];
  };

  it('with impersonation and a token lifetime: same fields, values and order', async () => {
    expect(await rendered('web')).toBe(
      await oracle([
        IMPERSONATING,
        `--service-account=${GSA}`,
        '--service-account-token-lifetime-seconds=1800',
      ]),
    );
  });

  it('with direct principal access: same fields, values and order', async () => {
    expect(await rendered('direct')).toBe(await oracle([DIRECT]));
  });
});
