import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import { bearerOf, sameToken, wrongBearer, type BearerRefusals } from '../http/bearer.js';
import { errorBody } from '../http/errors.js';
import { mountRoute } from '../http/hono-route.js';
import { MAX_API_BODY_BYTES, parseJsonBody } from '../http/json-body.js';
import {
  decodeSegment,
  jsonFailure,
  jsonTooLarge,
  type PlainAnswer,
  type RouteDescriptor,
} from '../http/route.js';
import type { Logger } from '../log/logger.js';
import { checkPushedDiscovery } from '../oidc/discovery.js';
import { validateJwks } from '../oidc/jwks.js';
import type { ClusterRecord } from '../registry/record.js';
import type { ClusterRegistry } from '../registry/registry.js';
import {
  SubjectTokenVerifier,
  TokenError,
  type VerifiedToken,
  type VerifyOptions,
} from '../verify/subject-token.js';
import { clusterId, ifVersion, versionTag } from './admin-routes.js';
import { clusterView, putKeysSchema } from './schemas.js';
import { checkSignerKept, checkSignerOnRecord, signerOf, type KeyPusher } from './sync-push.js';

const KEYS_PATH = /^\/api\/v1\/clusters\/([^/]+)\/keys$/;

export interface KeysRouteOptions {
  registry: ClusterRegistry;
  /** Break-glass: the admin token may replace any cluster's keys. Absent: cluster tokens only. */
  adminToken?: string;
  /** The audience a cluster's sync token must carry (IDBRIDGE_SYNC_AUDIENCE). */
  syncAudience: string;
  logger: Logger;
  verifier?: SubjectTokenVerifier;
  /** Clock for token lifetimes, epoch ms. */
  now?: () => number;
}

/**
 * `PUT /api/v1/clusters/{id}/keys` — a cluster publishes its current JWKS (idbridge sync), or an
 * administrator replaces it (the bootstrap upload before the first sync, and break-glass).
 *
 * A cluster authenticates with its own projected ServiceAccount token, verified against the keys
 * already on record (never the keys being pushed): iss = the cluster's issuer, sub = its
 * syncSubject, aud containing IDBRIDGE_SYNC_AUDIENCE, RS256/ES256, within its lifetime. A push
 * that would drop the key that signed it is refused, and inside the compare-and-swap the signing
 * key must still be on record, so a concurrent admin removal wins over an in-flight push.
 */
export function keysRoute(options: KeysRouteOptions): RouteDescriptor<string> {
  const verifier = options.verifier ?? new SubjectTokenVerifier();
  const how = `send the cluster's projected ServiceAccount token (audience ${JSON.stringify(options.syncAudience)})${options.adminToken ? ' or the admin token' : ''} as "Authorization: Bearer <token>"`;
  const refusals: BearerRefusals = {
    realm: 'idbridge-sync',
    missing: errorBody(new IdbridgeError('unauthenticated', how)),
    malformed: errorBody(
      new IdbridgeError('invalid_request', `the Authorization header is malformed; ${how}`),
    ),
    wrong: errorBody(
      new IdbridgeError(
        'unauthenticated',
        `the bearer is neither a ServiceAccount token nor the admin token; ${how}`,
      ),
    ),
  };

  /** Who pushes: the admin, a cluster whose token verified, or the refusal. */
  const authenticate = async (
    authorization: string | undefined,
    param: string,
  ): Promise<KeyPusher | PlainAnswer> => {
    const bearer = bearerOf(authorization, refusals);
    if ('refusal' in bearer) return bearer.refusal;
    const { token } = bearer;
    // The admin token first, compared in constant time (SHA-256 of both sides).
    if (options.adminToken && (await sameToken(options.adminToken, token)))
      return { kind: 'admin' };
    if (token.split('.').length !== 3) return wrongBearer(refusals);
    const id = clusterId(param);
    const record = await recordOrNull(options.registry, id);
    const verified = await verifySyncToken(verifier, token, record, id, (on) => ({
      audiences: [options.syncAudience],
      subject: on.syncSubject,
      ...(options.now ? { now: options.now } : {}),
    }));
    return {
      kind: 'cluster',
      token: verified.token,
      signer: signerOf(verified.record, verified.token),
    };
  };

  return {
    name: 'keys',
    paths: ['/api/v1/clusters/:id/keys'],
    match: (path) => {
      const id = KEYS_PATH.exec(path)?.[1];
      return id === undefined ? null : decodeSegment(id);
    },
    methods: ['PUT'],
    bodyCap: MAX_API_BODY_BYTES,
    shape: 'idbridge',
    decide: async (request) => {
      const pusher = await authenticate(request.header('authorization'), request.params);
      if ('status' in pusher) return pusher;
      const id = clusterId(request.params);
      const body = parseJsonBody(request.header('content-type'), request.body, putKeysSchema);
      const jwks = await validateJwks(body.jwks);
      if (pusher.kind === 'cluster') checkSignerKept(jwks, pusher);
      const source = pusher.kind === 'admin' ? 'admin' : body.provider ? 'provider-upload' : 'sync';
      const result = await options.registry.replaceKeys(id, jwks, source, {
        ...ifVersion(request.header('if-match')),
        ...(body.provider !== undefined ? { provider: body.provider } : {}),
        check: (current) => {
          if (pusher.kind === 'cluster') checkSignerOnRecord(current, pusher);
          if (body.discovery !== undefined) checkPushedDiscovery(body.discovery, current.issuer);
        },
      });
      if (result.changed) {
        options.logger.info('cluster keys changed', {
          cluster: id,
          source,
          added: result.added,
          removed: result.removed,
          version: result.record.version,
          ...(body.provider !== undefined ? { provider: body.provider } : {}),
          ...(pusher.kind === 'cluster'
            ? { signedBy: pusher.token.kid, subject: pusher.token.subject }
            : {}),
        });
      }
      const answer = {
        cluster: clusterView(result.record),
        added: result.added,
        removed: result.removed,
        changed: result.changed,
        warnings: [...result.warnings, ...modeWarnings(result.record, body.provider)],
      };
      return {
        status: 200,
        headers: { 'content-type': 'application/json', etag: versionTag(result.record.version) },
        body: JSON.stringify(answer),
      };
    },
    tooLarge: () => jsonTooLarge(MAX_API_BODY_BYTES),
    fail: jsonFailure(options.logger),
    fast: false,
  };
}

/** The keys push as a hono route, generated from its descriptor. */
export function keysRoutes(options: KeysRouteOptions): Hono {
  const app = new Hono();
  mountRoute(app, keysRoute(options));
  return app;
}

/** A push reporting a provider upload for a cluster not registered as `jwks-upload`: say how to declare it. */
function modeWarnings(record: ClusterRecord, provider: string | undefined): string[] {
  const mode = record.mode ?? 'provider';
  if (provider === undefined || mode === 'jwks-upload') return [];
  return [
    `cluster ${record.id} is registered with mode "${mode}", but these keys were written to provider ${provider}'s uploaded JWKS: declare it with PATCH /api/v1/clusters/${record.id} {"mode": "jwks-upload"} (idbridge clusters update ${record.id} --mode jwks-upload); its issuer documents are then no longer published`,
  ];
}

async function recordOrNull(registry: ClusterRegistry, id: string): Promise<ClusterRecord | null> {
  try {
    return await registry.get(id);
  } catch (err) {
    if (err instanceof IdbridgeError && err.code === 'cluster_not_found') return null;
    throw err;
  }
}

/**
 * Until a token verifies, an unknown cluster, a cluster with no keys yet, a key id not on record
 * and a bad signature all get this one answer, so an unauthenticated caller cannot tell which
 * clusters exist. It depends only on the id in the path, never on what is stored.
 */
export function notVerifiedOnRecord(id: string): TokenError {
  return new TokenError(
    'unknown_key',
    `the token does not verify with the keys on record for cluster ${JSON.stringify(id)}: either its key id is not among cluster ${id}'s published keys, or its signature does not verify with them, ` +
      'or no such cluster with keys is registered (a cluster with no keys on record yet cannot authenticate: an administrator uploads the first keys with the admin token and {"jwks": <kubectl get --raw /openid/v1/jwks>}, idbridge sync keeps them current after that); ' +
      'check the cluster id and that the kube-apiserver signs with a published key',
  );
}

/** Verifies a sync token against the record's keys, answering notVerifiedOnRecord for every case above. */
async function verifySyncToken(
  verifier: SubjectTokenVerifier,
  token: string,
  record: ClusterRecord | null,
  id: string,
  options: (record: ClusterRecord) => VerifyOptions,
): Promise<{ record: ClusterRecord; token: VerifiedToken }> {
  if (!record || record.keys.length === 0) {
    // The checks that need no keys still answer as they would for a registered cluster.
    verifier.checkHeader(token);
    throw notVerifiedOnRecord(id);
  }
  try {
    return { record, token: await verifier.verify(token, record, options(record)) };
  } catch (err) {
    if (
      err instanceof TokenError &&
      (err.failure === 'unknown_key' || err.failure === 'bad_signature')
    )
      throw notVerifiedOnRecord(id);
    throw err;
  }
}
