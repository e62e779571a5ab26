import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import { truncate } from '../http/errors.js';
import { mountRoute } from '../http/hono-route.js';
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
import { FLEET_SEGMENT } from '../fleet/paths.js';
import { isClusterId } from '../registry/cluster-id.js';
import type { DocumentSource } from './document-source.js';
import type { ClusterDocuments } from '../oidc/published.js';
import { DISCOVERY_PATH, JWKS_PATH, matchDocumentPath, type DocumentKind } from '../oidc/paths.js';
import { answerDocument } from './respond.js';

type DocumentParams = { cluster: string; kind: DocumentKind };

/**
 * The public GET and HEAD of a cluster's discovery document and JWKS, with ETag/304, CORS and
 * cache headers. A document already in memory (`peek`) is answered synchronously, so a fast path
 * writes it without awaiting anything.
 */
export function issuerRoute(
  source: DocumentSource,
  logger: Logger,
): RouteDescriptor<DocumentParams> {
  return {
    name: 'issuer',
    paths: [`/:cluster${DISCOVERY_PATH}`, `/:cluster${JWKS_PATH}`],
    match: (path) => {
      const match = matchDocumentPath(path);
      // hono hands routes the decoded cluster: decode it here too, so every host looks up the same id.
      return match && match.cluster.includes('%')
        ? { ...match, cluster: decodeSegment(match.cluster) }
        : match;
    },
    methods: ['GET', 'HEAD'],
    bodyCap: 0,
    shape: 'idbridge',
    decide: (request) => {
      const docs = source.peek?.(request.params.cluster);
      return docs ? answerFrom(docs, request) : fetchAndAnswer(source, request);
    },
    tooLarge: () => jsonTooLarge(0),
    fail: jsonFailure(logger),
    fast: true,
    methodHint: 'on a public issuer document; use GET or HEAD',
    // Browsers read discovery documents too (OIDC clients in a page): any origin, no credentials.
    preflight: {
      'access-control-allow-origin': '*',
      'access-control-allow-methods': 'GET, HEAD, OPTIONS',
      'access-control-allow-headers': 'if-none-match',
      'access-control-max-age': '86400',
    },
  };
}

function answerFrom(docs: ClusterDocuments, request: RouteRequest<DocumentParams>): PlainAnswer {
  return answerDocument(
    request.params.kind === 'jwks' ? docs.jwks : docs.discovery,
    request.method,
    request.header('if-none-match'),
  );
}

async function fetchAndAnswer(
  source: DocumentSource,
  request: RouteRequest<DocumentParams>,
): Promise<PlainAnswer> {
  const { cluster } = request.params;
  // Every source refuses names that are not cluster ids itself, save the ones it serves (the fleet issuer).
  const docs = await source.documents(cluster);
  if (docs) return answerFrom(docs, request);
  const hint =
    cluster === FLEET_SEGMENT
      ? 'the fleet issuer is published only by an idbridge server in fleet mode (IDBRIDGE_FLEET_PROVIDER set), and by an edge whose IDBRIDGE_ORIGIN is such a server'
      : isClusterId(cluster)
        ? 'register it with POST /api/v1/clusters and publish its keys (jwks at registration or idbridge sync)'
        : 'cluster ids are lowercase DNS labels (a-z, 0-9, "-")';
  return jsonErrorAnswer(
    new IdbridgeError(
      'cluster_not_found',
      `no cluster ${JSON.stringify(truncate(cluster, 80))} is published here; ${hint}`,
    ),
    {
      'access-control-allow-origin': '*',
      'cache-control': 'no-store',
    },
  );
}

/**
 * The public issuer routes, identical on every host, all generated from the descriptor: GET and
 * HEAD, the CORS preflight, and 405 for any other method.
 */
export function issuerRoutes(
  source: DocumentSource,
  logger: Logger,
  route: RouteDescriptor<DocumentParams> = issuerRoute(source, logger),
): Hono {
  const app = new Hono();
  mountRoute(app, route);
  return app;
}
