import { Hono } from 'hono';
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import { truncate } from '../http/errors.js';
import { mountRoute } from '../http/hono-route.js';
import {
  decodeSegment,
  jsonFailure,
  jsonTooLarge,
  type PlainAnswer,
  type RouteDescriptor,
} from '../http/route.js';
import type { Logger } from '../log/logger.js';
import { DISCOVERY_PATH, JWKS_PATH } from '../oidc/paths.js';
import { MAX_STATUS_CLUSTERS } from './config.js';
import { ago, clusterStatus, iso, type ClusterStatus } from './cluster-status.js';
import type { EdgeDocuments } from './edge-documents.js';

export interface StatusPageOptions {
  /** Listed on `/` whether or not this isolate has served them yet. */
  statusClusters: readonly string[];
  originKind: 'idbridge' | 'gcs';
  now?: () => number;
}

const HEADERS = {
  'cache-control': 'no-store',
  // Inline styles only: the page runs no script and loads nothing.
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const CONDITION_LABEL: Record<ClusterStatus['condition'], string> = {
  serving: 'serving',
  'serving-stale': 'serving a stale copy',
  'not-found': 'not published',
  unavailable: 'unavailable',
};

/** `/` (null) or `/{cluster}` (decoded, as hono hands its params). */
type StatusParams = { cluster: string | null };

/**
 * The edge's status page: `/` lists the clusters this location serves (those it has served
 * since its isolate started, and IDBRIDGE_STATUS_CLUSTERS), `/{cluster}` shows one. Keys, when
 * each document last came from the origin, and warnings (algorithms Google refuses, stale copies).
 */
export function statusRoute(
  edge: EdgeDocuments,
  options: StatusPageOptions,
  logger: Logger,
): RouteDescriptor<StatusParams> {
  const now = options.now ?? Date.now;
  return {
    name: 'status',
    paths: ['/', '/:cluster'],
    match: (path) => {
      if (path === '/') return { cluster: null };
      const segment = /^\/([^/]+)$/.exec(path)?.[1];
      return segment === undefined ? null : { cluster: decodeSegment(segment) };
    },
    methods: ['GET', 'HEAD'],
    bodyCap: 0,
    shape: 'idbridge',
    decide: (request) =>
      request.params.cluster === null
        ? overview(edge, options, now)
        : oneCluster(edge, options, now, request.params.cluster),
    tooLarge: () => jsonTooLarge(0),
    fail: jsonFailure(logger),
    fast: false,
  };
}

/** The status page as hono routes, generated from the descriptor. */
export function statusRoutes(
  edge: EdgeDocuments,
  options: StatusPageOptions,
  logger: Logger,
): Hono {
  const app = new Hono();
  mountRoute(app, statusRoute(edge, options, logger));
  return app;
}

async function overview(
  edge: EdgeDocuments,
  options: StatusPageOptions,
  now: () => number,
): Promise<PlainAnswer> {
  const known = edge.knownClusters();
  const ids = [...new Set([...options.statusClusters, ...known])].slice(0, MAX_STATUS_CLUSTERS);
  const statuses = await lookUp(edge, ids, now());
  const more = new Set([...options.statusClusters, ...known]).size - ids.length;
  return page(
    200,
    'idbridge edge issuer',
    html` ${intro(edge, options)}
    ${
      statuses.length === 0
        ? html`<p class="empty">
            No cluster has been served by this edge location since it started. Request a cluster's
            documents, open <code>/{cluster}</code>, or list clusters in
            <code>IDBRIDGE_STATUS_CLUSTERS</code> to see them here.
          </p>`
        : statuses.map((status) => clusterSection(status, now()))
    }
    ${more > 0 ? html`<p class="more">and ${more} more clusters (open <code>/{cluster}</code> to see one)</p>` : ''}`,
  );
}

async function oneCluster(
  edge: EdgeDocuments,
  options: StatusPageOptions,
  now: () => number,
  cluster: string,
): Promise<PlainAnswer> {
  const [status] = await lookUp(edge, [cluster], now());
  if (!status || status.condition === 'not-found') {
    return page(
      404,
      'idbridge edge issuer: no such cluster',
      html` ${intro(edge, options)}
        <p class="empty">
          No cluster ${JSON.stringify(truncate(cluster, 80))} is published here: cluster ids are
          lowercase DNS labels, and a cluster appears once its origin publishes its documents.
        </p>
        ${status?.jwksChangedAt ? clusterSection(status, now()) : ''}`,
    );
  }
  const code = status.condition === 'unavailable' ? 502 : 200;
  return page(
    code,
    `idbridge edge issuer: ${cluster}`,
    html`${intro(edge, options)}${clusterSection(status, now())}`,
  );
}

/**
 * At most this many clusters are revalidated with the origin for one status page (two origin
 * fetches each): a Worker request may make only 50 subrequests on the free plan. The others are
 * shown as this isolate holds them.
 */
const MAX_STATUS_REFRESHES = 20;

async function lookUp(
  edge: EdgeDocuments,
  ids: readonly string[],
  at: number,
): Promise<ClusterStatus[]> {
  const views = await Promise.all(
    ids.map((id, i) => edge.view(id, { refresh: i < MAX_STATUS_REFRESHES })),
  );
  return views.flatMap((view) => (view ? [clusterStatus(view, at, edge.policy)] : []));
}

function intro(edge: EdgeDocuments, options: StatusPageOptions) {
  const origin = options.originKind === 'gcs' ? 'a GCS bucket' : 'an idbridge server';
  return html`<p class="intro">
    Issuer documents for Google Workload Identity Federation, served under
    <code>${edge.publicUrl}/{cluster}</code> from ${origin}. Each copy is revalidated with the
    origin
    ${edge.policy.freshMs === 0 ? 'on every request' : html`after ${seconds(edge.policy.freshMs)}`};
    when the origin fails, the last good copy is served for up to ${seconds(edge.policy.maxStaleMs)}
    after the origin last confirmed it.
  </p>`;
}

function clusterSection(status: ClusterStatus, now: number) {
  const when = (ms: number | null) =>
    ms === null ? 'never' : html`<time datetime="${iso(ms)}">${iso(ms)}</time> (${ago(now - ms)})`;
  return html`<section class="cluster ${status.condition}" id="cluster-${status.cluster}">
    <h2>
      <a href="${status.issuer}">${status.cluster}</a>
      <span class="badge">${CONDITION_LABEL[status.condition]}</span>
    </h2>
    <dl>
      <dt>Issuer</dt>
      <dd><code>${status.issuer}</code></dd>
      <dt>Documents</dt>
      <dd>
        <a href="${status.issuer}${DISCOVERY_PATH}">discovery</a> ·
        <a href="${status.issuer}${JWKS_PATH}">JWKS</a>
      </dd>
      <dt>Discovery from origin</dt>
      <dd class="discovery-changed">${when(status.discoveryChangedAt)}</dd>
      <dt>JWKS from origin</dt>
      <dd class="jwks-changed">${when(status.jwksChangedAt)}</dd>
      <dt>Last confirmed by origin</dt>
      <dd class="confirmed">${when(status.confirmedAt)}</dd>
      <dt>Last checked</dt>
      <dd>${when(status.checkedAt)}</dd>
    </dl>
    ${
      status.keys.length > 0
        ? html`<table class="keys">
            <thead>
              <tr>
                <th>Key id</th>
                <th>Algorithm</th>
                <th>Google STS</th>
              </tr>
            </thead>
            <tbody>
              ${status.keys.map(
                (key) =>
                  html`<tr>
                    <td><code>${key.kid}</code></td>
                    <td>${key.alg}</td>
                    <td class="${key.googleAccepts ? 'ok' : 'refused'}">
                      ${key.googleAccepts ? 'accepted' : 'refused'}
                    </td>
                  </tr>`,
              )}
            </tbody>
          </table>`
        : ''
    }
    ${
      status.warnings.length > 0
        ? html`<ul class="warnings">
            ${status.warnings.map((warning) => html`<li>${warning}</li>`)}
          </ul>`
        : ''
    }
  </section>`;
}

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

async function page(
  status: 200 | 404 | 502,
  title: string,
  body: HtmlEscapedString | Promise<HtmlEscapedString>,
): Promise<PlainAnswer> {
  const document = await html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title}</title>
        <style>
          body {
            font:
              15px/1.5 system-ui,
              sans-serif;
            margin: 0;
            color: #1b1f24;
            background: #f6f7f9;
          }
          main {
            max-width: 60rem;
            margin: 0 auto;
            padding: 1.5rem;
          }
          h1 {
            font-size: 1.4rem;
            margin: 0 0 0.5rem;
          }
          .cluster {
            background: #fff;
            border: 1px solid #d8dde3;
            border-left: 4px solid #2f8f4e;
            border-radius: 6px;
            padding: 1rem 1.25rem;
            margin: 1rem 0;
          }
          .cluster.serving-stale {
            border-left-color: #c98a00;
          }
          .cluster.not-found,
          .cluster.unavailable {
            border-left-color: #c0392b;
          }
          h2 {
            font-size: 1.15rem;
            margin: 0 0 0.5rem;
          }
          .badge {
            font-size: 0.8rem;
            font-weight: normal;
            padding: 0.1rem 0.5rem;
            border-radius: 1rem;
            background: #e8f3ec;
          }
          .serving-stale .badge {
            background: #fff4d6;
          }
          .not-found .badge,
          .unavailable .badge {
            background: #fbe3e0;
          }
          dl {
            display: grid;
            grid-template-columns: max-content 1fr;
            gap: 0.15rem 1rem;
            margin: 0 0 0.75rem;
          }
          dt {
            color: #5b6672;
          }
          dd {
            margin: 0;
          }
          table {
            border-collapse: collapse;
            width: 100%;
          }
          th,
          td {
            text-align: left;
            padding: 0.25rem 0.5rem;
            border-bottom: 1px solid #eceff2;
          }
          td code {
            word-break: break-all;
          }
          .refused {
            color: #c0392b;
            font-weight: 600;
          }
          .ok {
            color: #2f8f4e;
          }
          .warnings {
            margin: 0.75rem 0 0;
            padding: 0.5rem 1rem 0.5rem 2rem;
            background: #fff8e6;
            border-radius: 4px;
          }
        </style>
      </head>
      <body>
        <main>
          <h1>${title}</h1>
          ${body}
        </main>
      </body>
    </html>`;
  return {
    status,
    headers: { 'content-type': 'text/html; charset=UTF-8', ...HEADERS },
    body: String(document),
  };
}
