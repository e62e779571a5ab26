import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import { describeIssues, zodDetails } from '../errors/zod.js';
import { bearerOf, sameToken, wrongBearer, type BearerRefusals } from '../http/bearer.js';
import { errorBody } from '../http/errors.js';
import { mountRoute } from '../http/hono-route.js';
import { MAX_API_BODY_BYTES, parseJsonBody } from '../http/json-body.js';
import {
  decodeSegment,
  jsonErrorAnswer,
  jsonFailure,
  jsonTooLarge,
  type PlainAnswer,
  type RouteDescriptor,
  type RouteRequest,
} from '../http/route.js';
import type { Logger } from '../log/logger.js';
import { validateJwks } from '../oidc/jwks.js';
import { clusterIdSchema } from '../registry/cluster-id.js';
import { kubeApiserverFlags, type ClusterRegistry } from '../registry/registry.js';
import {
  clusterView,
  createClusterSchema,
  listQuerySchema,
  updateClusterSchema,
} from './schemas.js';

const CLUSTERS = '/api/v1/clusters';
const CLUSTER = /^\/api\/v1\/clusters\/([^/]+)$/;

/**
 * The admin registration API: create and list clusters (`/api/v1/clusters`), get, update and
 * delete one (`/api/v1/clusters/{id}`); keys: keys-route.ts. One descriptor per path, each
 * deciding per method; other methods fall through to the app's 404, as they always did.
 */
export function adminDescriptors(
  registry: ClusterRegistry,
  adminToken: string | undefined,
  logger: Logger,
): [RouteDescriptor<true>, RouteDescriptor<string>] {
  const admin = requireAdmin(adminToken);
  const common = {
    bodyCap: MAX_API_BODY_BYTES,
    shape: 'idbridge',
    tooLarge: () => jsonTooLarge(MAX_API_BODY_BYTES),
    fail: jsonFailure(logger),
    fast: false,
  } as const;
  const collection: RouteDescriptor<true> = {
    ...common,
    name: 'admin-clusters',
    paths: [CLUSTERS],
    match: (path) => (path === CLUSTERS ? true : null),
    methods: ['GET', 'HEAD', 'POST'],
    decide: async (request) =>
      (await admin(request)) ??
      (request.method === 'POST'
        ? createCluster(registry, request)
        : listClusters(registry, request)),
  };
  const item: RouteDescriptor<string> = {
    ...common,
    name: 'admin-cluster',
    paths: [`${CLUSTERS}/:id`],
    match: (path) => {
      const id = CLUSTER.exec(path)?.[1];
      return id === undefined ? null : decodeSegment(id);
    },
    methods: ['GET', 'HEAD', 'PATCH', 'DELETE'],
    decide: async (request) => (await admin(request)) ?? (await itemAnswer(registry, request)),
  };
  return [collection, item];
}

/** The admin API as hono routes, generated from its descriptors. */
export function adminRoutes(
  registry: ClusterRegistry,
  adminToken: string | undefined,
  logger: Logger,
): Hono {
  const app = new Hono();
  const [collection, item] = adminDescriptors(registry, adminToken, logger);
  mountRoute(app, collection);
  mountRoute(app, item);
  return app;
}

/**
 * The admin bearer-token check: null when the request carries the admin token, else its refusal.
 * Tokens are compared as SHA-256 digests in constant time, so the answer time does not reveal how
 * much of a guess was right.
 */
function requireAdmin(
  adminToken: string | undefined,
): (request: RouteRequest<unknown>) => Promise<PlainAnswer | null> {
  if (!adminToken) {
    const disabled = jsonErrorAnswer(
      new IdbridgeError(
        'misconfigured',
        'the admin API is disabled on this host: set IDBRIDGE_ADMIN_TOKEN and restart',
      ),
    );
    return async () => disabled;
  }
  const refusals: BearerRefusals = {
    realm: 'idbridge-admin',
    missing: errorBody(
      new IdbridgeError(
        'unauthenticated',
        'send the admin token as "Authorization: Bearer <token>" (idbridge serve printed it on first start and keeps it in the data directory)',
      ),
    ),
    malformed: errorBody(
      new IdbridgeError(
        'invalid_request',
        'the Authorization header must be "Bearer <admin token>"',
      ),
    ),
    wrong: errorBody(
      new IdbridgeError(
        'unauthenticated',
        "the admin token is wrong; use the token from IDBRIDGE_ADMIN_TOKEN or the data directory's admin-token file",
      ),
    ),
  };
  return async (request) => {
    const bearer = bearerOf(request.header('authorization'), refusals);
    if ('refusal' in bearer) return bearer.refusal;
    return (await sameToken(adminToken, bearer.token)) ? null : wrongBearer(refusals);
  };
}

async function createCluster(
  registry: ClusterRegistry,
  request: RouteRequest<true>,
): Promise<PlainAnswer> {
  const body = parseJsonBody(request.header('content-type'), request.body, createClusterSchema);
  const jwks = body.jwks === undefined ? undefined : await validateJwks(body.jwks);
  const record = await registry.create({
    id: body.id,
    syncSubject: body.syncSubject,
    ...(jwks ? { jwks } : {}),
    ...(body.broker ? { broker: body.broker } : {}),
    ...(body.mode ? { mode: body.mode } : {}),
  });
  const next =
    record.mode === 'jwks-upload'
      ? jwksUploadSteps(record.issuer, record.id, jwks !== undefined)
      : jwks
        ? [
            'Set the kube-apiserver flags above and restart it.',
            `Check the issuer: curl ${record.issuer}/.well-known/openid-configuration`,
            'Run idbridge sync in the cluster to keep the keys current.',
          ]
        : [
            'Set the kube-apiserver flags above and restart it.',
            `Upload the cluster's current keys: PUT ${'/api/v1/clusters/'}${record.id}/keys with {"jwks": <kubectl get --raw /openid/v1/jwks>} and the admin token. Nothing is published until the cluster has keys, and idbridge sync verifies its own token against them.`,
          ];
  const warnings = [...(jwks?.warnings ?? []), ...issuerSchemeWarnings(record.issuer)];
  return json(
    201,
    {
      cluster: clusterView(record),
      kubeApiserver: kubeApiserverFlags(record.issuer),
      warnings,
      next,
    },
    {
      location: `/api/v1/clusters/${record.id}`,
      etag: versionTag(record.version),
    },
  );
}

/**
 * A `jwks-upload` cluster publishes no issuer documents (its provider holds its keys), so its next
 * steps name the provider and the sync that keeps both copies, not a curl of its issuer.
 */
function jwksUploadSteps(issuer: string, id: string, hasKeys: boolean): string[] {
  return [
    `Set the kube-apiserver flags above and restart it: ${issuer} is the tokens' issuer only, idbridge publishes no documents for a jwks-upload cluster (Google reads its keys from the provider).`,
    `Create the provider with the cluster's keys uploaded and issuer URI ${issuer}: idbridge gcp-setup --issuer=${issuer} --jwk-json-path=jwks.json … prints the commands.`,
    ...(hasKeys
      ? []
      : [
          `Upload the cluster's current keys: PUT /api/v1/clusters/${id}/keys with {"jwks": <kubectl get --raw /openid/v1/jwks>} and the admin token; idbridge sync verifies its own token against them.`,
        ]),
    `Run idbridge sync --cluster ${id} --target wif-provider://PROVIDER --api URL --token-file PATH in the cluster: it writes the provider's keys, then pushes them here (docs/no-public-issuer.md).`,
  ];
}

async function listClusters(
  registry: ClusterRegistry,
  request: RouteRequest<true>,
): Promise<PlainAnswer> {
  const query = listQuerySchema.safeParse(request.query ?? {});
  if (!query.success) {
    throw new IdbridgeError(
      'invalid_request',
      `bad list parameters: ${describeIssues(zodDetails(query.error, { root: 'query' }))}; use ?limit=1..500&pageToken=<nextPageToken>`,
    );
  }
  const after = query.data.pageToken ? decodePageToken(query.data.pageToken) : undefined;
  const page = await registry.list({ limit: query.data.limit, ...(after ? { after } : {}) });
  return json(200, {
    clusters: page.records.map(({ record }) => clusterView(record)),
    ...(page.next ? { nextPageToken: encodePageToken(page.next) } : {}),
  });
}

async function itemAnswer(
  registry: ClusterRegistry,
  request: RouteRequest<string>,
): Promise<PlainAnswer> {
  const id = clusterId(request.params);
  if (request.method === 'PATCH') {
    const body = parseJsonBody(request.header('content-type'), request.body, updateClusterSchema);
    const record = await registry.update(id, body, ifVersion(request.header('if-match')));
    return json(200, { cluster: clusterView(record) }, { etag: versionTag(record.version) });
  }
  if (request.method === 'DELETE') {
    await registry.delete(id, ifVersion(request.header('if-match')));
    return { status: 204, headers: {}, body: null };
  }
  const record = await registry.get(id);
  return json(200, { cluster: clusterView(record) }, { etag: versionTag(record.version) });
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): PlainAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/** An http:// issuer works for nothing real: say so when the cluster is registered, not when sync fails. */
export function issuerSchemeWarnings(issuer: string): string[] {
  if (new URL(issuer).protocol === 'https:') return [];
  return [
    `the issuer ${issuer} is not https://: kube-apiserver signs tokens for it but answers 404 on its discovery endpoints (and refuses to start with an http:// --service-account-jwks-uri), and Google STS fetches issuers over https only. ` +
      'Serve idbridge over HTTPS (idbridge serve --tls=local on a laptop, or --tls-cert-file/--tls-key-file) or set IDBRIDGE_PUBLIC_URL to an https:// URL, then register the cluster again.',
  ];
}

export function clusterId(param: string | undefined): string {
  const parsed = clusterIdSchema.safeParse(param);
  if (!parsed.success)
    throw new IdbridgeError(
      'invalid_cluster_id',
      parsed.error.issues[0]?.message ?? 'invalid cluster id',
    );
  return parsed.data;
}

/** `If-Match: "3"` (the ETag of a previous GET) makes a write conditional on version 3. */
export function ifVersion(header: string | undefined): { ifVersion?: number } {
  if (header === undefined) return {};
  const match = /^(?:W\/)?"(\d{1,15})"$/.exec(header.trim());
  if (!match)
    throw new IdbridgeError(
      'invalid_request',
      'If-Match must be the ETag of the cluster from a previous response, e.g. "3"',
    );
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
  throw new IdbridgeError(
    'invalid_request',
    'pageToken is not one this API issued; pass nextPageToken from the previous page unchanged',
  );
}
