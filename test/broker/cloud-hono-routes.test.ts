import { XMLParser } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app/app.js';
import { brokerFromConfig } from '../../src/broker/broker.js';
import { loadConfig } from '../../src/config/config.js';
import { RegistryDocuments } from '../../src/issuer/registry-documents.js';
import { silentLogger } from '../../src/log/logger.js';
import { validateJwks } from '../../src/oidc/jwks.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { clusterRecords } from '../../src/registry/record-cache.js';
import { ClusterRegistry } from '../../src/registry/registry.js';
import { generateClusterKey, signKubeToken } from '../support/keys.js';
import { startServe, type ServeHarness } from '../support/serve.js';

/**
 * The AWS STS and Entra ID routes answer the same through createApp's hono routes (the Cloud
 * Function) as through serve's Node fast path: one descriptor per wire decides both.
 */
describe('broker AWS STS and Entra ID routes: hono and the fast path agree', () => {
  const key = generateClusterKey('RS256');
  const publicUrl = 'https://broker.example.com';
  let hono: ReturnType<typeof createApp>;
  let fast: ServeHarness;
  const xml = new XMLParser({ parseTagValue: false });

  beforeAll(async () => {
    const env = {
      IDBRIDGE_PUBLIC_URL: publicUrl,
      // Nothing is forwarded in these cases: a dead port proves it.
      IDBRIDGE_BROKER_AWS_STS_URL: 'http://127.0.0.1:9',
      IDBRIDGE_BROKER_AZURE_AUTHORITY_URL: 'http://127.0.0.1:9',
    };
    const config = loadConfig(env);
    const store = new MemoryStore();
    const registry = new ClusterRegistry(store, { publicUrl });
    const documents = new RegistryDocuments(clusterRecords(store));
    await registry.create({
      id: 'c1',
      syncSubject: 'system:serviceaccount:idbridge-sync:idbridge-sync',
      jwks: await validateJwks({ keys: [key.jwk] }),
    });
    hono = createApp({
      registry,
      documents,
      syncAudience: config.syncAudience,
      logger: silentLogger,
      broker: brokerFromConfig(config, registry, silentLogger),
    });
    fast = await startServe(env);
  });
  afterAll(async () => {
    await fast?.close();
  });

  /** Status, content type and the wire's code (random request and trace ids left out). */
  const reading = async (res: Response) => {
    const text = await res.text();
    const type = res.headers.get('content-type') ?? '';
    const parsed = type.startsWith('text/xml')
      ? undefined
      : (JSON.parse(text) as { error?: string; error_codes?: number[]; token_endpoint?: string });
    const body = type.startsWith('text/xml')
      ? (xml.parse(text) as { ErrorResponse?: { Error?: { Code?: string } } }).ErrorResponse?.Error
          ?.Code
      : { error: parsed?.error, codes: parsed?.error_codes, tokenEndpoint: parsed?.token_endpoint };
    return { status: res.status, type, body, allow: res.headers.get('allow') };
  };

  const token = (audience: string) =>
    signKubeToken(key, {
      issuer: `${publicUrl}/c9`,
      audience,
      namespace: 'apps',
      serviceAccount: 'web',
    });
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const cases: Array<[string, string, () => Promise<RequestInit>]> = [
    [
      'AWS: an unregistered issuer',
      '/aws/sts/',
      async () => ({
        method: 'POST',
        headers: form,
        body: new URLSearchParams({
          Action: 'AssumeRoleWithWebIdentity',
          Version: '2011-06-15',
          RoleArn: 'arn:aws:iam::123456789012:role/app',
          RoleSessionName: 'web',
          WebIdentityToken: await token('sts.amazonaws.com'),
        }).toString(),
      }),
    ],
    [
      'AWS: no trailing slash, another action',
      '/aws/sts',
      async () => ({ method: 'POST', headers: form, body: 'Action=AssumeRole&Version=2011-06-15' }),
    ],
    ['AWS: GET', '/aws/sts/', async () => ({ method: 'GET' })],
    [
      'AWS: 100 KB',
      '/aws/sts/',
      async () => ({ method: 'POST', headers: form, body: `Action=${'a'.repeat(100_000)}` }),
    ],
    [
      'Entra: an unregistered issuer',
      '/azure/contoso.onmicrosoft.com/oauth2/v2.0/token',
      async () => ({
        method: 'POST',
        headers: form,
        body: new URLSearchParams({
          client_id: '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
          scope: 'https://management.azure.com/.default',
          grant_type: 'client_credentials',
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
          client_assertion: await token('api://AzureADTokenExchange'),
        }).toString(),
      }),
    ],
    [
      'Entra: a bad tenant',
      '/azure/common/oauth2/v2.0/token',
      async () => ({ method: 'POST', headers: form, body: 'grant_type=client_credentials' }),
    ],
    [
      'Entra: GET on the token endpoint',
      '/azure/contoso.onmicrosoft.com/oauth2/v2.0/token',
      async () => ({ method: 'GET' }),
    ],
    [
      'Entra: tenant discovery',
      '/azure/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration',
      async () => ({ method: 'GET' }),
    ],
    [
      'Entra: POST on tenant discovery',
      '/azure/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration',
      async () => ({ method: 'POST', headers: form, body: '' }),
    ],
  ];

  it.each(cases)('%s', async (_name, path, init) => {
    const viaHono = await reading(await hono.request(path, await init()));
    const viaFast = await reading(await fetch(`${fast.url}${path}`, await init()));
    expect(viaHono).toEqual(viaFast);
    expect(viaHono.status).toBeGreaterThanOrEqual(200);
    if (path.endsWith('openid-configuration') && viaHono.status === 200)
      expect(viaHono.body).toMatchObject({
        tokenEndpoint: `${publicUrl}/azure/contoso.onmicrosoft.com/oauth2/v2.0/token`,
      });
  });
});
