import { Hono } from 'hono';
import { IdbridgeError } from '../errors.js';
import { errorResponse, handleError, truncate } from '../http/errors.js';
import { healthRoutes } from '../http/health.js';
import { limitBody, readJson } from '../http/json-body.js';
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

/** The webhook's small hono app: the admission route, health, readiness and metrics. */
export function createWebhookApp(options: WebhookAppOptions): Hono {
  const { metrics, logger } = options;
  const app = new Hono();

  app.post(MUTATE_PATH, limitBody(MAX_REVIEW_BYTES), async (c) => {
    const start = performance.now();
    try {
      const review = await readJson(c, admissionReviewEnvelope);
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
      return c.json(result.review);
    } catch (err) {
      metrics.admissions.inc({ outcome: 'error' });
      metrics.latency.observe({ outcome: 'error' }, (performance.now() - start) / 1000);
      if (err instanceof IdbridgeError && err.status >= 500) logger.warn('admission failed; the failurePolicy decides', { error: err.message });
      throw err;
    }
  });

  app.route('/', healthRoutes(async () => {
    if (!options.admit.serviceAccounts.ready()) {
      throw new IdbridgeError('store_unavailable', 'the ServiceAccount cache has not completed its first list from the Kubernetes API');
    }
  }));

  app.get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }));

  app.notFound((c) => errorResponse(c, new IdbridgeError('not_found', `no route ${c.req.method} ${truncate(c.req.path)}; the webhook serves POST ${MUTATE_PATH}, GET /healthz, /readyz and /metrics`)));
  app.onError(handleError(logger));
  return app;
}
