import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log/logger.js';
import { createWebhookApp, MUTATE_PATH, type WebhookAppOptions } from '../../src/webhook/app.js';
import { loadWebhookConfig } from '../../src/webhook/config.js';
import { WebhookMetrics } from '../../src/webhook/metrics.js';
import { admissionReview, startWebhookHarness } from '../support/webhook.js';

const ANNOTATED = {
  'cloud.google.com/workload-identity-provider':
    'projects/123456789/locations/global/workloadIdentityPools/on-prem/providers/cluster-a',
  'cloud.google.com/service-account-email': 'app-x@my-project-1.iam.gserviceaccount.com',
};

/**
 * The host answers POST /mutate-v1-pod on Node's request directly; the hono app has the same
 * route. Both must give the same answer to the same bytes.
 */
describe('the hono route and the host’s direct path answer alike', () => {
  const inputs: Array<[string, string, string]> = [
    [
      'a pod to mutate',
      'application/json',
      JSON.stringify(
        admissionReview(
          {
            metadata: { name: 'p' },
            spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'x' }] },
          },
          { uid: 'same-uid' },
        ),
      ),
    ],
    [
      'a missing ServiceAccount',
      'application/json',
      JSON.stringify(
        admissionReview(
          {
            metadata: { name: 'p' },
            spec: { serviceAccountName: 'ghost', containers: [{ name: 'app', image: 'x' }] },
          },
          { uid: 'same-uid' },
        ),
      ),
    ],
    ['broken JSON', 'application/json', '{"apiVersion":'],
    ['a wrong content type', 'text/plain', '{}'],
    ['a too large body', 'application/json', ' '.repeat(3 * 1024 * 1024 + 1)],
  ];

  it('for each input: same status, same body', async () => {
    const webhook = await startWebhookHarness({
      serviceAccounts: [{ namespace: 'apps', name: 'web', annotations: ANNOTATED }],
    });
    try {
      const config = loadWebhookConfig({});
      const options: WebhookAppOptions = {
        admit: {
          serviceAccounts: {
            get: async (namespace, name) =>
              name === 'web' ? { namespace, name, annotations: ANNOTATED } : undefined,
            ready: () => true,
            close: async () => {},
          },
          defaults: config.defaults,
          mutation: config.mutation,
          missingServiceAccount: config.missingServiceAccount,
        },
        metrics: new WebhookMetrics({ processMetrics: false }),
        logger: createLogger(() => {}),
      };
      const app = createWebhookApp(options);
      for (const [name, type, body] of inputs) {
        const direct = await webhook.post(body, { 'content-type': type });
        const viaHono = await app.fetch(
          new Request(`https://webhook${MUTATE_PATH}`, {
            method: 'POST',
            headers: { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) },
            body,
          }),
        );
        expect(viaHono.status, name).toBe(direct.status);
        expect(await viaHono.json(), name).toEqual(JSON.parse(direct.body));
      }
    } finally {
      await webhook.close();
    }
  });
});
