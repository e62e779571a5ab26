import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FLAVOR,
  GSA,
  send,
  startMetadataWorld,
  UNBOUND_GSA,
  type MetadataWorld,
  type SpawnedMetadataServer,
} from './world.js';

/**
 * Every rule of the API (issue 13, item 1) as a table, run against the real
 * `idbridge metadata-server` process in front of the fake Google.
 */
const V1 = '/computeMetadata/v1';
const SCOPES =
  'https://www.googleapis.com/auth/cloud-platform\nhttps://www.googleapis.com/auth/userinfo.email\n';

interface Row {
  name: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  status: number;
  body?: string | RegExp;
  type?: string;
  location?: string;
  json?: unknown;
}

const rows: Row[] = [
  // Probes
  {
    name: 'Go probe: GET / without Metadata-Flavor',
    path: '/',
    headers: { 'user-agent': 'Go-http-client/1.1' },
    status: 200,
    body: 'computeMetadata/\n',
    type: 'application/text',
  },
  {
    name: 'Python ping: GET / with the header',
    path: '/',
    status: 200,
    body: 'computeMetadata/\n',
  },
  {
    name: 'Node isAvailable: instance without slash is a redirect',
    path: `${V1}/instance`,
    status: 301,
    location: `${V1}/instance/`,
  },
  {
    name: 'gcloud _CheckServer: digits only, no newline',
    path: `${V1}/project/numeric-project-id`,
    status: 200,
    body: '123456',
  },
  // Metadata-Flavor
  {
    name: 'no Metadata-Flavor is 403 and names the header',
    path: `${V1}/project/project-id`,
    headers: {},
    status: 403,
    body: /Metadata-Flavor/,
  },
  {
    name: 'legacy X-Google-Metadata-Request only is 403',
    path: `${V1}/project/project-id`,
    headers: { 'x-google-metadata-request': 'True' },
    status: 403,
    body: /Metadata-Flavor/,
  },
  {
    name: 'Metadata-Flavor: NotGoogle is 403',
    path: `${V1}/project/project-id`,
    headers: { 'metadata-flavor': 'NotGoogle' },
    status: 403,
  },
  // Refused requests
  {
    name: 'X-Forwarded-For is 403',
    path: `${V1}/project/project-id`,
    headers: { ...FLAVOR, 'x-forwarded-for': '1.2.3.4' },
    status: 403,
    body: /X-Forwarded-For/,
  },
  {
    name: 'X-Forwarded-For on a token is 403',
    path: `${V1}/instance/service-accounts/default/token`,
    headers: { ...FLAVOR, 'x-forwarded-for': '10.0.0.1' },
    status: 403,
  },
  {
    name: 'POST is 405',
    method: 'POST',
    path: `${V1}/instance/service-accounts/default/token`,
    status: 405,
    body: /GET only/,
  },
  { name: 'PUT is 405', method: 'PUT', path: `${V1}/project/project-id`, status: 405 },
  // Scalars, listings
  {
    name: 'project-id, no newline',
    path: `${V1}/project/project-id`,
    status: 200,
    body: 'proj-abc12',
    type: 'application/text',
  },
  { name: 'root listing', path: `${V1}/`, status: 200, body: 'instance/\nproject/\nuniverse/\n' },
  {
    name: 'instance listing',
    path: `${V1}/instance/`,
    status: 200,
    body: 'attributes/\nservice-accounts/\n',
  },
  {
    name: 'service accounts',
    path: `${V1}/instance/service-accounts/`,
    status: 200,
    body: `default/\n${GSA}/\n`,
  },
  {
    name: 'email, no newline',
    path: `${V1}/instance/service-accounts/default/email`,
    status: 200,
    body: GSA,
  },
  {
    name: 'email by email',
    path: `${V1}/instance/service-accounts/${GSA}/email`,
    status: 200,
    body: GSA,
  },
  {
    name: 'aliases, final newline',
    path: `${V1}/instance/service-accounts/default/aliases`,
    status: 200,
    body: 'default\n',
  },
  {
    name: 'scopes, final newline',
    path: `${V1}/instance/service-accounts/default/scopes`,
    status: 200,
    body: SCOPES,
  },
  {
    name: 'universe-domain',
    path: `${V1}/universe/universe-domain`,
    status: 200,
    body: 'googleapis.com',
  },
  {
    name: 'universe_domain (gcloud spelling)',
    path: `${V1}/universe/universe_domain`,
    status: 200,
    body: 'googleapis.com',
  },
  {
    name: 'cluster-name attribute',
    path: `${V1}/instance/attributes/cluster-name`,
    status: 200,
    body: 'c1',
  },
  {
    name: 'cluster-location attribute',
    path: `${V1}/instance/attributes/cluster-location`,
    status: 200,
    body: 'europe-west1',
  },
  // Redirects keep the query
  {
    name: 'redirect keeps recursive=true',
    path: `${V1}/instance/service-accounts/default?recursive=true`,
    status: 301,
    location: `${V1}/instance/service-accounts/default/?recursive=true`,
  },
  { name: '/computeMetadata/v1 redirects', path: V1, status: 301, location: `${V1}/` },
  // Recursive JSON
  {
    name: 'account recursive JSON',
    path: `${V1}/instance/service-accounts/default/?recursive=true`,
    status: 200,
    type: 'application/json',
    json: { aliases: ['default'], email: GSA, scopes: SCOPES.trim().split('\n') },
  },
  {
    name: 'accounts recursive JSON, keyed by default and the email',
    path: `${V1}/instance/service-accounts/?recursive=TRUE`,
    status: 200,
    json: {
      default: { aliases: ['default'], email: GSA, scopes: SCOPES.trim().split('\n') },
      [GSA]: { aliases: ['default'], email: GSA, scopes: SCOPES.trim().split('\n') },
    },
  },
  {
    name: 'project recursive JSON, camelCase',
    path: `${V1}/project/?recursive=true`,
    status: 200,
    json: { numericProjectId: 123456, projectId: 'proj-abc12' },
  },
  // 404 / 400
  {
    name: 'another account is 404',
    path: `${V1}/instance/service-accounts/other@proj-abc12.iam.gserviceaccount.com/email`,
    status: 404,
  },
  {
    name: 'another account token is 404',
    path: `${V1}/instance/service-accounts/${UNBOUND_GSA}/token`,
    status: 404,
  },
  { name: 'unknown path is 404', path: `${V1}/instance/name`, status: 404 },
  { name: 'outside computeMetadata is 404', path: '/latest/meta-data/', status: 404 },
  { name: 'a leaf with a slash is 404', path: `${V1}/project/project-id/`, status: 404 },
  {
    name: 'identity without audience is 400',
    path: `${V1}/instance/service-accounts/default/identity`,
    status: 400,
    body: 'non-empty audience parameter required\n',
  },
  {
    name: 'identity with a blank audience is 400',
    path: `${V1}/instance/service-accounts/default/identity?audience=%20`,
    status: 400,
  },
  {
    name: 'a scope with a space inside is 400',
    path: `${V1}/instance/service-accounts/default/token?scopes=a%0Ab`,
    status: 400,
    body: /scope/,
  },
  {
    name: 'malformed percent-encoding is 400',
    path: `${V1}/instance/service-accounts/%E0%A4%A/email`,
    status: 400,
  },
  // Health
  { name: 'healthz without the header', path: '/healthz', headers: {}, status: 200 },
  { name: 'readyz without the header', path: '/readyz', headers: {}, status: 200 },
];

describe('metadata server protocol, against the real process', () => {
  let world: MetadataWorld;
  let server: SpawnedMetadataServer;
  let direct: SpawnedMetadataServer;
  beforeAll(async () => {
    world = await startMetadataWorld();
    server = await world.sidecar('web', {
      gsa: GSA,
      args: ['--cluster-name', 'c1', '--cluster-location', 'europe-west1'],
    });
    direct = await world.sidecar('direct', { args: ['--project-id', 'direct-proj'] });
  });
  afterAll(() => world?.close());

  it.each(rows)('$name', async (row) => {
    const res = await send(server.url, row);
    expect(res.status).toBe(row.status);
    // Every answer carries Metadata-Flavor: Google.
    expect(res.headers['metadata-flavor']).toBe('Google');
    if (row.type) expect(res.headers['content-type']).toBe(row.type);
    expect(['application/text', 'application/json']).toContain(res.headers['content-type']);
    if (typeof row.body === 'string') expect(res.body).toBe(row.body);
    if (row.body instanceof RegExp) expect(res.body).toMatch(row.body);
    if (row.location) expect(res.headers.location).toBe(row.location);
    if (row.json !== undefined) expect(JSON.parse(res.body)).toEqual(row.json);
  });

  it('token: JSON with access_token, integer expires_in within the lifetime, Bearer, and Metadata-Flavor', async () => {
    for (const account of ['default', GSA]) {
      const res = await send(server.url, {
        path: `${V1}/instance/service-accounts/${account}/token`,
      });
      expect(res.status).toBe(200);
      expect(res.headers['metadata-flavor']).toBe('Google');
      expect(res.headers['content-type']).toBe('application/json');
      const body = JSON.parse(res.body) as {
        access_token: string;
        expires_in: number;
        token_type: string;
      };
      expect(body.access_token).toMatch(/^ya29\.sa\./);
      expect(Number.isInteger(body.expires_in)).toBe(true);
      expect(body.expires_in).toBeGreaterThan(0);
      expect(body.expires_in).toBeLessThanOrEqual(3600);
      expect(body.token_type).toBe('Bearer');
    }
  });

  it('token?scopes=a, b sends exactly [a, b] upstream, trimmed (direct access: the STS scope)', async () => {
    const res = await send(direct.url, {
      path: `${V1}/instance/service-accounts/default/token?scopes=${encodeURIComponent(' https://www.googleapis.com/auth/devstorage.read_only, https://www.googleapis.com/auth/pubsub ')}`,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).access_token).toMatch(/^ya29\.fed\./);
    expect(world.google.tokenRequests.at(-1)!.scope).toBe(
      'https://www.googleapis.com/auth/devstorage.read_only https://www.googleapis.com/auth/pubsub',
    );
  });

  it('token without scopes asks for cloud-platform and userinfo.email', async () => {
    const res = await send(direct.url, { path: `${V1}/instance/service-accounts/default/token` });
    expect(res.status).toBe(200);
    expect(world.google.tokenRequests.at(-1)!.scope).toBe(
      'https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email',
    );
  });

  it('identity?audience=X&format=full&licenses=FALSE is a JWT for X with the email, no newline', async () => {
    const res = await send(server.url, {
      path: `${V1}/instance/service-accounts/default/identity?audience=https://svc.example.com&format=full&licenses=FALSE`,
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/text');
    expect(res.body).not.toMatch(/\n$/);
    const claims = decodeJwt(res.body);
    expect(claims).toMatchObject({
      aud: 'https://svc.example.com',
      iss: 'https://accounts.google.com',
      email: GSA,
      email_verified: true,
    });
  });

  it('direct access: email is PROJECT_ID.svc.id.goog, token is the federated token, identity is 404 "not annotated"', async () => {
    const email = await send(direct.url, { path: `${V1}/instance/service-accounts/default/email` });
    expect(email.body).toBe('direct-proj.svc.id.goog');
    const listing = await send(direct.url, { path: `${V1}/instance/service-accounts/` });
    expect(listing.body).toBe('default/\ndirect-proj.svc.id.goog/\n');
    const token = await send(direct.url, {
      path: `${V1}/instance/service-accounts/direct-proj.svc.id.goog/token`,
    });
    expect(token.status).toBe(200);
    expect(JSON.parse(token.body).access_token).toMatch(/^ya29\.fed\./);
    const identity = await send(direct.url, {
      path: `${V1}/instance/service-accounts/default/identity?audience=x`,
    });
    expect(identity.status).toBe(404);
    expect(identity.body).toMatch(
      /apps\/web\) is not annotated with a target Google service account/,
    );
  });

  it("Google's 403 on impersonation is a 403 naming roles/iam.workloadIdentityUser and the command that adds it", async () => {
    const unbound = await world.sidecar('unbound', { gsa: UNBOUND_GSA });
    try {
      const res = await send(unbound.url, {
        path: `${V1}/instance/service-accounts/default/token`,
      });
      expect(res.status).toBe(403);
      expect(res.headers['metadata-flavor']).toBe('Google');
      expect(res.body).toContain('roles/iam.workloadIdentityUser');
      expect(res.body).toContain(
        `gcloud iam service-accounts add-iam-policy-binding ${UNBOUND_GSA} --role=roles/iam.workloadIdentityUser --member=principal://iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/idbridge/subject/system:serviceaccount:apps:web`,
      );
      expect(res.body).toContain('iam.serviceAccounts.getAccessToken');
    } finally {
      await unbound.stop();
    }
  });

  it('no token or subject token appears in the log', async () => {
    const res = await send(server.url, { path: `${V1}/instance/service-accounts/default/token` });
    const { access_token: accessToken } = JSON.parse(res.body) as { access_token: string };
    const subject = (await import('node:fs/promises')).readFile(world.tokenFile, 'utf8');
    for (const secret of [accessToken, await subject])
      expect(server.stdout()).not.toContain(secret);
  });
});
