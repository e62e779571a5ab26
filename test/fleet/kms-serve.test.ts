import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GoogleAuth } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import { idbridgeCode } from '../../src/http/wire/idbridge.js';
import { startFakeKms, type FakeKms } from '../fakes/kms.js';
import { generateClusterKey, jwksOf, signKubeToken } from '../support/keys.js';
import { freePort } from '../support/net.js';
import { spawnServe, type SpawnedServe } from '../support/serve.js';
import {
  GSA,
  startMetadataWorld,
  UNBOUND_GSA,
  type MetadataWorld,
  type SpawnedMetadataServer,
} from '../metadata/world.js';
import { fleetAttributes, FLEET_PROVIDER } from './stack.js';
import { postStsExchange } from '../support/sts.js';

const KEY = 'projects/proj-abc12/locations/europe-west1/keyRings/idbridge/cryptoKeys/fleet';
const VERSION = `${KEY}/cryptoKeyVersions/3`;
const SCOPES = ['https://www.googleapis.com/auth/cloud-platform'];
const ADMIN_TOKEN = 'test-admin-token-0123456789';
const provider = parseProvider(FLEET_PROVIDER);

/**
 * The KMS signer end to end: `idbridge serve` (the built CLI, as a process) in fleet mode with
 * IDBRIDGE_FLEET_SIGNER=gcpkms://…, getting its own token for the KMS fake through Application
 * Default Credentials (an external_account file exchanged at the fake Google, or `idbridge
 * metadata-server`), the KMS fake granting only that service account; a pod's google-auth-library
 * gets a token, and the fake Google validates the KMS-signed minted token through the fleet
 * issuer's documents fetched from serve over HTTP.
 */
interface KmsBroker {
  url: string;
  serve: SpawnedServe;
  /** A pod of fleet cluster `a`: its credential configuration, token_url at the broker. */
  podConfig(): Promise<string>;
  exchange(): Promise<Response>;
  close(): Promise<unknown>;
}

async function startKmsBroker(
  world: MetadataWorld,
  kms: FakeKms,
  identity: Record<string, string>,
  keyVersion = VERSION,
): Promise<KmsBroker> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const home = join(world.dir, `home-${port}`);
  await mkdir(home);
  world.google.providers.push({
    path: provider.path,
    issuerUri: `${url}/_fleet`,
    attributeMapping: fleetAttributes,
  });
  const serve = await spawnServe({
    PORT: String(port),
    HOME: home,
    IDBRIDGE_STORE: 'memory:',
    IDBRIDGE_ADMIN_TOKEN: ADMIN_TOKEN,
    IDBRIDGE_STS_URL: world.google.url,
    IDBRIDGE_IAMCREDENTIALS_URL: world.google.url,
    IDBRIDGE_FLEET_PROVIDER: FLEET_PROVIDER,
    IDBRIDGE_FLEET_SIGNER: `gcpkms://${keyVersion}`,
    IDBRIDGE_KMS_URL: kms.url,
    ...identity,
  });
  const key = generateClusterKey('ES256');
  const res = await fetch(`${url}/api/v1/clusters`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'a', jwks: jwksOf(key), mode: 'fleet' }),
  });
  if (res.status !== 201) throw new Error(`register a: ${res.status} ${await res.text()}`);
  const podToken = () =>
    signKubeToken(key, {
      issuer: `${url}/a`,
      audience: provider.audience,
      namespace: 'apps',
      serviceAccount: 'web',
    });
  let files = 0;
  return {
    url,
    serve,
    async podConfig() {
      const tokenPath = join(world.dir, `pod-token-${port}-${files++}`);
      await writeFile(tokenPath, await podToken());
      const path = join(world.dir, `pod-${port}-${files++}.json`);
      const config = externalAccountConfig({
        provider,
        tokenPath,
        stsUrl: url,
        iamCredentialsUrl: url,
        format: 'text',
      });
      await writeFile(path, JSON.stringify(config));
      return path;
    },
    async exchange() {
      return postStsExchange(url, await podToken(), provider.audience);
    },
    close: () => serve.stop(),
  };
}

/** Only the broker's own service account (through the fake Google's tokens) may use the key. */
const brokerOnly = (world: MetadataWorld) => (token: string) =>
  world.google.principalOf(token) === `serviceAccount:${GSA}`;

async function podGetsToken(broker: KmsBroker, world: MetadataWorld, kms: FakeKms) {
  const signs = kms.calls.asymmetricSign;
  const token = await new GoogleAuth({
    keyFilename: await broker.podConfig(),
    scopes: SCOPES,
  }).getAccessToken();
  expect(token).toMatch(/^ya29\.fed\./);
  expect(kms.calls.asymmetricSign).toBe(signs + 1);
  // The fake Google validated the KMS-signed token through the fleet issuer over HTTP.
  expect(world.google.assertions.at(-1)).toMatchObject({
    iss: `${broker.url}/_fleet`,
    sub: 'a:apps:web',
    cluster: 'a',
  });
  // The fleet JWKS is the KMS key version's public key, and only that.
  const jwks = (await (await fetch(`${broker.url}/_fleet/openid/v1/jwks`)).json()) as {
    keys: Array<Record<string, unknown>>;
  };
  expect(jwks.keys).toHaveLength(1);
  expect(jwks.keys[0]).toMatchObject({
    kty: 'EC',
    crv: 'P-256',
    alg: 'ES256',
    ...kms.publicJwk(VERSION),
  });
  expect(jwks.keys[0]).not.toHaveProperty('d');
  // Every KMS call carried the broker's own service account token, which no log line holds.
  expect(kms.bearers.length).toBeGreaterThan(0);
  for (const bearer of kms.bearers) {
    expect(world.google.principalOf(bearer)).toBe(`serviceAccount:${GSA}`);
    expect(broker.serve.stdout.join('\n')).not.toContain(bearer);
  }
}

describe('serve in fleet mode with a Cloud KMS signer: ADC from an external_account file', () => {
  let world: MetadataWorld;
  let kms: FakeKms;
  let broker: KmsBroker;
  beforeAll(async () => {
    world = await startMetadataWorld();
    kms = await startFakeKms();
    kms.addKeyVersion(VERSION, brokerOnly(world));
    broker = await startKmsBroker(world, kms, {
      GOOGLE_APPLICATION_CREDENTIALS: await world.credentialConfig('broker', GSA),
    });
  });
  afterAll(async () => {
    await broker?.close();
    await kms?.close();
    await world?.close();
  });

  it('a pod gets a token; the fake Google validates the KMS-signed minted token', async () => {
    const exchanges = world.google.calls.token;
    await podGetsToken(broker, world, kms);
    // The broker's own exchange (its external_account file) and the pod's minted token.
    expect(world.google.calls.token - exchanges).toBeGreaterThanOrEqual(1);
    expect(world.google.calls.generateAccessToken).toBeGreaterThanOrEqual(1);
  });

  // KMS failing while signing: the broker answers Google STS' shape with the fix, and keeps serving.
  const FAULTS = [
    {
      name: '403 permission denied',
      fault: {
        code: 403,
        status: 'PERMISSION_DENIED',
        message: `Permission 'cloudkms.cryptoKeyVersions.useToSign' denied on resource '${VERSION}' (or it may not exist).`,
      },
      status: 503,
      error: 'server_error',
      fix: /roles\/cloudkms\.signerVerifier/,
    },
    {
      name: '401 token not accepted',
      fault: {
        code: 401,
        status: 'UNAUTHENTICATED',
        message: 'Request had invalid authentication credentials.',
      },
      status: 503,
      error: 'server_error',
      fix: /Application Default Credentials/,
    },
    {
      name: '429 quota',
      fault: {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        message: "Quota exceeded for quota metric 'Cryptographic requests'.",
        retryAfter: '7',
      },
      status: 503,
      error: 'temporarily_unavailable',
      fix: /quota/,
      retryAfter: '7',
    },
    {
      name: '500 internal',
      fault: { code: 500, status: 'INTERNAL', message: 'Internal error encountered.' },
      status: 503,
      error: 'temporarily_unavailable',
      fix: /retry shortly/,
      retryAfter: '1',
    },
    {
      name: '503 unavailable',
      fault: { code: 503, status: 'UNAVAILABLE', message: 'The service is currently unavailable.' },
      status: 503,
      error: 'temporarily_unavailable',
      fix: /retry shortly/,
      retryAfter: '1',
    },
  ];
  it.each(FAULTS)('KMS $name: a clear refusal, no secret, still serving', async (row) => {
    kms.failNext(row.fault);
    const res = await broker.exchange();
    expect(res.status).toBe(row.status);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    if (row.retryAfter) expect(res.headers.get('retry-after')).toBe(row.retryAfter);
    const text = await res.text();
    const body = JSON.parse(text) as { error: string; error_description: string };
    expect(Object.keys(body).sort()).toEqual(['error', 'error_description']);
    expect(body.error).toBe(row.error);
    expect(body.error_description).toMatch(row.fix);
    expect(body.error_description).toContain(row.fault.message.slice(0, 40));
    expect(text).not.toMatch(/ya29\.|eyJ/);
    const logs = broker.serve.stdout.join('\n');
    for (const bearer of kms.bearers) expect(logs).not.toContain(bearer);
    expect(logs).not.toMatch(/ya29\.|eyJ[A-Za-z0-9_-]{8,}\./);
    // The next exchange signs again.
    expect((await broker.exchange()).status).toBe(200);
  });
});

describe('serve in fleet mode with a Cloud KMS signer: ADC from the metadata server', () => {
  let world: MetadataWorld;
  let kms: FakeKms;
  let metadata: SpawnedMetadataServer;
  let broker: KmsBroker;
  beforeAll(async () => {
    world = await startMetadataWorld();
    kms = await startFakeKms();
    kms.addKeyVersion(VERSION, brokerOnly(world));
    // idbridge's own metadata server stands in for the one of Cloud Run, GCE or GKE.
    metadata = await world.sidecar('broker-metadata', { gsa: GSA });
    broker = await startKmsBroker(world, kms, { GCE_METADATA_HOST: metadata.hostPort });
  });
  afterAll(async () => {
    await broker?.close();
    await kms?.close();
    await world?.close();
  });

  it('a pod gets a token; the broker signed with the metadata server service account token', async () => {
    await podGetsToken(broker, world, kms);
  });
});

describe('serve in fleet mode with a Cloud KMS signer: faults before the key is read', () => {
  let world: MetadataWorld;
  let kms: FakeKms;
  let broker: KmsBroker;
  const missing = `${KEY}/cryptoKeyVersions/9`;
  beforeAll(async () => {
    world = await startMetadataWorld();
    kms = await startFakeKms();
    kms.addKeyVersion(VERSION, brokerOnly(world));
    broker = await startKmsBroker(
      world,
      kms,
      { GOOGLE_APPLICATION_CREDENTIALS: await world.credentialConfig('broker', GSA) },
      missing,
    );
  });
  afterAll(async () => {
    await broker?.close();
    await kms?.close();
    await world?.close();
  });

  async function refusal(res: Response) {
    const text = await res.text();
    expect(res.status).toBe(503);
    expect(text).not.toMatch(/ya29\.|eyJ/);
    return JSON.parse(text) as { error: string; error_description: string };
  }

  it('a key version that does not exist (404): names IDBRIDGE_FLEET_SIGNER, on the broker and the fleet issuer', async () => {
    const body = await refusal(await broker.exchange());
    expect(body.error).toBe('server_error');
    expect(body.error_description).toMatch(/404 NOT_FOUND.*does not exist.*IDBRIDGE_FLEET_SIGNER/);
    const jwks = await fetch(`${broker.url}/_fleet/openid/v1/jwks`);
    expect(jwks.status).toBe(503);
    const answer = (await jwks.json()) as { error: { code: string; message: string } };
    // idbridge's own wire shape, through its one mapping of the domain code.
    expect(answer.error.code).toBe(idbridgeCode('misconfigured'));
    expect(answer.error.message).toMatch(/IDBRIDGE_FLEET_SIGNER/);
  });

  it('a key that is not EC_SIGN_P256_SHA256: names the algorithm to create it with', async () => {
    kms.addKeyVersion(missing, brokerOnly(world), { algorithm: 'RSA_SIGN_PKCS1_2048_SHA256' });
    const body = await refusal(await broker.exchange());
    expect(body.error).toBe('server_error');
    expect(body.error_description).toMatch(
      /RSA_SIGN_PKCS1_2048_SHA256.*EC_SIGN_P256_SHA256.*ec-sign-p256-sha256/,
    );
  });

  it('a disabled key version: names the gcloud command that enables it', async () => {
    kms.addKeyVersion(missing, brokerOnly(world));
    kms.disable(missing);
    const body = await refusal(await broker.exchange());
    expect(body.error_description).toMatch(/not enabled.*gcloud kms keys versions enable/);
  });

  it('then signs once the version is right, without a restart', async () => {
    kms.addKeyVersion(missing, brokerOnly(world));
    expect((await broker.exchange()).status).toBe(200);
  });

  it.each([
    { name: 'is not there', content: null, says: /no-such-credentials\.json/ },
    {
      name: 'is a broken key file',
      content:
        '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nSECRETPART',
      says: /no-such-credentials\.json is not valid JSON/,
    },
  ])(
    'a GOOGLE_APPLICATION_CREDENTIALS file that $name: names the variable, quotes nothing of it',
    async ({ content, says }) => {
      const file = join(world.dir, 'no-such-credentials.json');
      if (content !== null) await writeFile(file, content);
      const lost = await startKmsBroker(world, kms, { GOOGLE_APPLICATION_CREDENTIALS: file });
      try {
        const body = await refusal(await lost.exchange());
        expect(body.error).toBe('server_error');
        expect(body.error_description).toMatch(
          /no Application Default Credentials for Cloud KMS.*set GOOGLE_APPLICATION_CREDENTIALS/,
        );
        expect(body.error_description).toMatch(says);
        expect(body.error_description).not.toMatch(/SECRETPART|PRIVATE KEY/);
        expect(lost.serve.stdout.join('\n')).not.toMatch(/SECRETPART|PRIVATE KEY/);
      } finally {
        await lost.close();
      }
    },
  );

  it('Application Default Credentials Google refuses: names the credential configuration to check', async () => {
    const refused = await startKmsBroker(world, kms, {
      GOOGLE_APPLICATION_CREDENTIALS: await world.credentialConfig('unbound', UNBOUND_GSA),
    });
    try {
      const body = await refusal(await refused.exchange());
      expect(body.error).toBe('server_error');
      expect(body.error_description).toMatch(
        /Google refused the broker's Application Default Credentials.*GOOGLE_APPLICATION_CREDENTIALS/,
      );
      expect((await refused.exchange()).status).toBe(503);
    } finally {
      await refused.close();
    }
  });
});
