import { Hono, type Context } from 'hono';
import { IdbridgeError } from '../errors.js';
import { describeIssues, zodDetails } from '../errors/zod.js';
import { readJson } from '../http/json-body.js';
import { validateJwks } from '../oidc/jwks.js';
import { clusterIdSchema } from '../registry/cluster-id.js';
import { kubeApiserverFlags, type ClusterRegistry } from '../registry/registry.js';
import { requireAdmin } from './admin-auth.js';
import { clusterView, createClusterSchema, listQuerySchema, updateClusterSchema } from './schemas.js';

/** The admin registration API under /api/v1: create, list, get, update, delete clusters (keys: keys-route.ts). */
export function adminRoutes(registry: ClusterRegistry, adminToken: string | undefined): Hono {
  const app = new Hono();
  const admin = requireAdmin(adminToken);

  app.post('/clusters', admin, async (c) => {
    const body = await readJson(c, createClusterSchema);
    const jwks = body.jwks === undefined ? undefined : await validateJwks(body.jwks);
    const record = await registry.create({ id: body.id, syncSubject: body.syncSubject, ...(jwks ? { jwks } : {}), ...(body.broker ? { broker: body.broker } : {}) });
    const next = jwks
      ? ['Set the kube-apiserver flags above and restart it.', `Check the issuer: curl ${record.issuer}/.well-known/openid-configuration`, 'Run idbridge sync in the cluster to keep the keys current.']
      : [
          'Set the kube-apiserver flags above and restart it.',
          `Upload the cluster's current keys: PUT ${'/api/v1/clusters/'}${record.id}/keys with {"jwks": <kubectl get --raw /openid/v1/jwks>} and the admin token. Nothing is published until the cluster has keys, and idbridge sync verifies its own token against them.`,
        ];
    const warnings = [...(jwks?.warnings ?? []), ...issuerSchemeWarnings(record.issuer)];
    return c.json({ cluster: clusterView(record), kubeApiserver: kubeApiserverFlags(record.issuer), warnings, next }, 201, {
      location: `/api/v1/clusters/${record.id}`,
      etag: versionTag(record.version),
    });
  });

  app.get('/clusters', admin, async (c) => {
    const query = listQuerySchema.safeParse(c.req.query());
    if (!query.success) {
      throw new IdbridgeError('invalid_request', `bad list parameters: ${describeIssues(zodDetails(query.error, { root: 'query' }))}; use ?limit=1..500&pageToken=<nextPageToken>`);
    }
    const after = query.data.pageToken ? decodePageToken(query.data.pageToken) : undefined;
    const page = await registry.list({ limit: query.data.limit, ...(after ? { after } : {}) });
    return c.json({
      clusters: page.records.map(({ record }) => clusterView(record)),
      ...(page.next ? { nextPageToken: encodePageToken(page.next) } : {}),
    });
  });

  app.get('/clusters/:id', admin, async (c) => {
    const record = await registry.get(clusterId(c));
    return c.json({ cluster: clusterView(record) }, 200, { etag: versionTag(record.version) });
  });

  app.patch('/clusters/:id', admin, async (c) => {
    const id = clusterId(c);
    const body = await readJson(c, updateClusterSchema);
    const record = await registry.update(id, body, ifVersion(c));
    return c.json({ cluster: clusterView(record) }, 200, { etag: versionTag(record.version) });
  });

  app.delete('/clusters/:id', admin, async (c) => {
    await registry.delete(clusterId(c), ifVersion(c));
    return c.body(null, 204);
  });

  return app;
}

/** An http:// issuer works for nothing real: say so when the cluster is registered, not when sync fails. */
export function issuerSchemeWarnings(issuer: string): string[] {
  if (new URL(issuer).protocol === 'https:') return [];
  return [
    `the issuer ${issuer} is not https://: kube-apiserver signs tokens for it but answers 404 on its discovery endpoints (and refuses to start with an http:// --service-account-jwks-uri), and Google STS fetches issuers over https only. ` +
      'Serve idbridge over HTTPS (idbridge serve --tls=local on a laptop, or --tls-cert-file/--tls-key-file) or set IDBRIDGE_PUBLIC_URL to an https:// URL, then register the cluster again.',
  ];
}

export function clusterId(c: Context): string {
  const parsed = clusterIdSchema.safeParse(c.req.param('id'));
  if (!parsed.success) throw new IdbridgeError('invalid_cluster_id', parsed.error.issues[0]?.message ?? 'invalid cluster id');
  return parsed.data;
}

/** `If-Match: "3"` (the ETag of a previous GET) makes a write conditional on version 3. */
export function ifVersion(c: Context): { ifVersion?: number } {
  const header = c.req.header('if-match');
  if (header === undefined) return {};
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(header.trim());
  if (!match) throw new IdbridgeError('invalid_request', 'If-Match must be the ETag of the cluster from a previous response, e.g. "3"');
  return { ifVersion: Number(match[1]) };
}

export function versionTag(version: number): string {
  return `"${version}"`;
}

function encodePageToken(id: string): string {
  return btoa(id).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function decodePageToken(token: string): string {
  try {
    const id = atob(token.replace(/-/g, '+').replace(/_/g, '/'));
    if (clusterIdSchema.safeParse(id).success) return id;
  } catch {
    // fall through
  }
  throw new IdbridgeError('invalid_request', 'pageToken is not one this API issued; pass nextPageToken from the previous page unchanged');
}
