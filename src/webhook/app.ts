import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import {
  errorBody,
  errorResponse,
  handleError,
  truncate,
  unexpectedErrorFields,
} from '../http/errors.js';
import { healthRoutes } from '../http/health.js';
import { mountRoute } from '../http/hono-route.js';
import { parseJsonBody } from '../http/json-body.js';
import { metricsRoute } from '../http/metrics.js';
import { jsonFailure, jsonTooLarge, type RouteDescriptor } from '../http/route.js';
import type { Logger } from '../log/logger.js';
import { admissionReviewEnvelope } from './admission-review.js';
import { admit, type AdmitOptions } from './admit.js';
import type { WebhookMetrics } from './metrics.js';

/** kube-apiserver refuses request bodies over 3 MiB, so no real review is larger. */
export const MAX_REVIEW_BYTES = 3 * 1024 * 1024;
export const MUTATE_PATH = '/mutate-v1-pod';

export interface WebhookAppOptions {
  admit: AdmitOptions;
  metrics: WebhookMetrics;
  logger: Logger;
}

/**
 * One admission request, from its bytes to its answer: the review (200), or the one JSON error
 * shape (4xx for what kube-apiserver sent wrong, 5xx when the ServiceAccount could not be read,
 * where the failurePolicy decides). Shared by the hono route and the host's direct path.
 */
export async function answerReview(
  contentType: string | undefined,
  text: string,
  options: WebhookAppOptions,
): Promise<{ status: number; body: unknown }> {
  const { metrics, logger } = options;
  const start = performance.now();
  try {
    const review = parseJsonBody(contentType, text, admissionReviewEnvelope);
    const result = await admit(review.request, options.admit);
    const seconds = (performance.now() - start) / 1000;
    metrics.admissions.inc({ outcome: result.outcome });
    metrics.latency.observe({ outcome: result.outcome }, seconds);
    logger.info('admission', {
      uid: review.request.uid.slice(0, 64),
      outcome: result.outcome,
      ...result.subject,
      ms: Math.round(seconds * 100_000) / 100,
    });
    return { status: 200, body: result.review };
  } catch (err) {
    metrics.admissions.inc({ outcome: 'error' });
    metrics.latency.observe({ outcome: 'error' }, (performance.now() - start) / 1000);
    if (!(err instanceof IdbridgeError)) {
      logger.error('admission failed unexpectedly', unexpectedErrorFields(err));
      return {
        status: 500,
        body: errorBody(
          new IdbridgeError('internal', 'internal error; the webhook log has the details'),
        ),
      };
    }
    if (err.status >= 500)
      logger.warn('admission failed; the failurePolicy decides', { error: err.message });
    return { status: err.status, body: errorBody(err) };
  }
}

/** The admission route: POST of an AdmissionReview, answered by answerReview on every host. */
export function admissionRoute(options: WebhookAppOptions): RouteDescriptor<true> {
  return {
    name: 'admission',
    paths: [MUTATE_PATH],
    // kube-apiserver appends ?timeout=…s; hosts hand the path without it.
    match: (path) => (path === MUTATE_PATH ? true : null),
    methods: ['POST'],
    bodyCap: MAX_REVIEW_BYTES,
    shape: 'idbridge',
    decide: async (request) => {
      const answer = await answerReview(request.header('content-type'), request.body, options);
      return {
        status: answer.status,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(answer.body),
      };
    },
    tooLarge: () => jsonTooLarge(MAX_REVIEW_BYTES),
    fail: jsonFailure(options.logger),
    fast: true,
  };
}

/** The webhook's small hono app: the admission route, health, readiness and metrics. */
export function createWebhookApp(
  options: WebhookAppOptions,
  route: RouteDescriptor<true> = admissionRoute(options),
): Hono {
  const app = new Hono();

  mountRoute(app, route);

  app.route(
    '/',
    healthRoutes(async () => {
      if (!options.admit.serviceAccounts.ready()) {
        throw new IdbridgeError(
          'not_ready',
          'the ServiceAccount cache has not completed its first list from the Kubernetes API',
        );
      }
    }),
  );

  mountRoute(app, metricsRoute(options.metrics.registry));

  app.notFound((c) =>
    errorResponse(
      c,
      new IdbridgeError(
        'not_found',
        `no route ${c.req.method} ${truncate(c.req.path)}; the webhook serves POST ${MUTATE_PATH}, GET /healthz, /readyz and /metrics`,
      ),
    ),
  );
  app.onError(handleError(options.logger));
  return app;
}
