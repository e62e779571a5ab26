import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BrokerPolicy } from '../../src/registry/record.js';
import { startFakeAwsSts, type FakeAwsSts } from '../fakes/aws-sts.js';
import { startFakeEntra, type FakeEntra } from '../fakes/entra.js';
import { testPki } from '../fakes/tls.js';
import {
  generateClusterKey,
  jwksOf,
  signKubeToken,
  type ClusterKey,
  type KubeTokenOptions,
} from './keys.js';
import { brokerAuditLines } from './broker-clients.js';
import { startServe, tempDir, type ServeHarness } from './serve.js';
import { httpsRequest, type HttpsAnswer } from './tls.js';

export const ROLE_ARN = 'arn:aws:iam::123456789012:role/app';
export const TENANT_ID = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const CLIENT_ID = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
export const SUBJECT = 'system:serviceaccount:apps:web';
export const AWS_AUDIENCE = 'sts.amazonaws.com';
export const AZURE_AUDIENCE = 'api://AzureADTokenExchange';

/**
 * AWS STS and Entra ID fakes ← idbridge serve over HTTPS (issuer, registration API, broker) ←
 * clients, all on loopback with one test CA; cluster c1 registered, its issuer trusted by the
 * fake AWS account (an OIDC provider and role `app`) and the fake tenant (an app with a federated
 * credential for apps/web).
 */
export interface CloudStack {
  serve: ServeHarness;
  aws: FakeAwsSts;
  entra: FakeEntra;
  key: ClusterKey;
  issuer: string;
  /** PEM of the test CA, and its file (NODE_EXTRA_CA_CERTS for child processes). */
  ca: string;
  caFile: string;
  dir: string;
  token(
    cloud: 'aws' | 'azure',
    options?: Partial<KubeTokenOptions>,
    key?: ClusterKey,
  ): Promise<string>;
  /** A file holding `token`, as the projected volume holds it. */
  tokenFile(token: string): Promise<string>;
  post(
    path: string,
    form: Record<string, string> | string,
    headers?: Record<string, string>,
  ): Promise<HttpsAnswer>;
  get(path: string): Promise<HttpsAnswer>;
  admin(method: string, path: string, body?: unknown): Promise<HttpsAnswer>;
  auditLines(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

export async function startCloudStack(
  options: { policy?: BrokerPolicy; env?: Record<string, string> } = {},
): Promise<CloudStack> {
  const dir = await tempDir('idbridge-clouds-');
  const pki = await testPki();
  const files = {
    cert: join(dir.path, 'server.crt'),
    key: join(dir.path, 'server.key'),
    ca: join(dir.path, 'ca.crt'),
  };
  await Promise.all([
    writeFile(files.cert, pki.serverCertPem),
    writeFile(files.key, pki.serverKeyPem),
    writeFile(files.ca, pki.caPem),
  ]);
  const aws = await startFakeAwsSts({ ca: pki.caPem });
  const entra = await startFakeEntra({
    tls: { cert: pki.serverCertPem, key: pki.serverKeyPem },
    ca: pki.caPem,
    tenants: [{ id: TENANT_ID, domains: ['contoso.onmicrosoft.com'] }],
  });
  const serve = await startServe({
    IDBRIDGE_TLS_CERT_FILE: files.cert,
    IDBRIDGE_TLS_KEY_FILE: files.key,
    IDBRIDGE_STS_URL: 'http://127.0.0.1:9',
    IDBRIDGE_IAMCREDENTIALS_URL: 'http://127.0.0.1:9',
    IDBRIDGE_BROKER_AWS_STS_URL: aws.url,
    IDBRIDGE_BROKER_AZURE_AUTHORITY_URL: entra.httpUrl,
    ...options.env,
  });
  const issuer = `${serve.url}/c1`;
  aws.providers.push({ issuer, clientIds: [AWS_AUDIENCE] });
  aws.roles.push({ arn: ROLE_ARN, issuer, subjects: [SUBJECT] });
  entra.apps.push({
    clientId: CLIENT_ID,
    tenantId: TENANT_ID,
    federatedCredentials: [{ issuer, subject: SUBJECT }],
  });
  const key = generateClusterKey('RS256');
  const request = (
    method: string,
    path: string,
    body?: string,
    headers: Record<string, string> = {},
  ) =>
    httpsRequest(`${serve.url}${path}`, {
      ca: pki.caPem,
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
  const admin = (method: string, path: string, body?: unknown) =>
    request(method, path, body === undefined ? undefined : JSON.stringify(body), {
      authorization: `Bearer ${serve.adminToken}`,
      'content-type': 'application/json',
    });
  const registered = await admin('POST', '/api/v1/clusters', {
    id: 'c1',
    jwks: jwksOf(key),
    ...(options.policy ? { broker: options.policy } : {}),
  });
  if (registered.status !== 201)
    throw new Error(`register c1: ${registered.status} ${registered.body}`);
  let tokens = 0;
  return {
    serve,
    aws,
    entra,
    key,
    issuer,
    ca: pki.caPem,
    caFile: files.ca,
    dir: dir.path,
    token: (cloud, o = {}, signer = key) =>
      signKubeToken(signer, {
        issuer,
        audience: cloud === 'aws' ? AWS_AUDIENCE : AZURE_AUDIENCE,
        namespace: 'apps',
        serviceAccount: 'web',
        ...o,
      }),
    async tokenFile(token) {
      const path = join(dir.path, `token-${tokens++}`);
      await writeFile(path, token);
      return path;
    },
    post: (path, form, headers = {}) =>
      request(
        'POST',
        path,
        typeof form === 'string' ? form : new URLSearchParams(form).toString(),
        {
          'content-type': 'application/x-www-form-urlencoded',
          ...headers,
        },
      ),
    get: (path) => request('GET', path),
    admin,
    auditLines: () => brokerAuditLines(serve),
    async close() {
      await serve.close();
      await aws.close();
      await entra.close();
      await dir.remove();
    },
  };
}
