import { copyFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { httpsRequest, makeCertificate } from '../support/tls.js';
import { admissionReview, startWebhookHarness, waitFor } from '../support/webhook.js';
import { EMAIL, PROVIDER, useWebhook } from './fixtures.js';
import { envOf, applyAndValidate } from './pod-checks.js';

const ANNOTATED = {
  'cloud.google.com/workload-identity-provider': PROVIDER,
  'cloud.google.com/service-account-email': EMAIL,
};
const podFor = (serviceAccountName: string, env?: Array<{ name: string; value: string }>) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-', namespace: 'apps' },
  spec: {
    serviceAccountName,
    containers: [{ name: 'app', image: 'example/app:1', ...(env ? { env } : {}) }],
  },
});

const metricValue = (text: string, line: string): number => {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
};

describe('idbridge webhook: HTTP surface and hostile input', () => {
  const webhook = useWebhook({
    serviceAccounts: [{ namespace: 'apps', name: 'web', annotations: ANNOTATED }],
  });

  const envelope = (request: unknown) =>
    JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request });

  // Without a uid there is no one to answer: a clean 400 with what to fix.
  const refusedOutright: Array<{
    name: string;
    body: string | Buffer;
    headers?: Record<string, string>;
    status: number;
    message: RegExp;
  }> = [
    {
      name: 'not JSON',
      body: '{"apiVersion": "admission.k8s.io/v1", ',
      status: 400,
      message: /not valid JSON/,
    },
    { name: 'JSON but not an object', body: '[1,2,3]', status: 400, message: /refused/ },
    {
      name: 'an admission.k8s.io/v1beta1 review',
      body: JSON.stringify({
        apiVersion: 'admission.k8s.io/v1beta1',
        kind: 'AdmissionReview',
        request: { uid: 'u' },
      }),
      status: 400,
      message: /admissionReviewVersions/,
    },
    {
      name: 'another kind',
      body: JSON.stringify({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'Pod',
        request: { uid: 'u' },
      }),
      status: 400,
      message: /kind must be AdmissionReview/,
    },
    {
      name: 'no request',
      body: JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }),
      status: 400,
      message: /request must be an object/,
    },
    {
      name: 'an empty uid',
      body: envelope({ uid: '' }),
      status: 400,
      message: /request\.uid is empty/,
    },
    {
      name: 'a numeric uid',
      body: envelope({ uid: 42 }),
      status: 400,
      message: /request\.uid must be a string/,
    },
    {
      name: 'a form body',
      body: 'uid=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      message: /Content-Type: application\/json/,
    },
    {
      name: 'a body over 3 MiB',
      body: Buffer.alloc(3 * 1024 * 1024 + 10, 0x20),
      status: 413,
      message: /larger than 3072 KiB/,
    },
  ];
  for (const input of refusedOutright) {
    it(`answers ${input.status} to ${input.name}`, async () => {
      const answer = await webhook().post(input.body, input.headers);
      expect(answer.status).toBe(input.status);
      const body = JSON.parse(answer.body) as { error: { code: string; message: string } };
      expect(body.error.message).toMatch(input.message);
    });
  }

  // With a uid, kube-apiserver gets a denied review whose message says what is wrong.
  const deniedWithReason: Array<{
    name: string;
    request: Record<string, unknown>;
    message: RegExp;
  }> = [
    {
      name: 'no kind',
      request: { uid: 'u1', operation: 'CREATE', namespace: 'apps', object: podFor('web') },
      message: /request\.kind/,
    },
    {
      name: 'a pod whose containers are not a list',
      request: {
        uid: 'u2',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        namespace: 'apps',
        object: { spec: { containers: 'app' } },
      },
      message: /request\.object\.spec\.containers/,
    },
    {
      name: 'a pod object that is null',
      request: {
        uid: 'u3',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        namespace: 'apps',
        object: null,
      },
      message: /malformed pod/,
    },
    {
      name: 'annotations that are not strings',
      request: {
        uid: 'u4',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        namespace: 'apps',
        object: { metadata: { annotations: { a: 1 } }, spec: { containers: [] } },
      },
      message: /request\.object\.metadata\.annotations\.a/,
    },
    {
      name: 'a container without a name',
      request: {
        uid: 'u5',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        namespace: 'apps',
        object: { spec: { serviceAccountName: 'web', containers: [{ image: 'x' }] } },
      },
      message: /containers\.0\.name/,
    },
    {
      name: 'no namespace',
      request: {
        uid: 'u6',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        object: podFor('web'),
      },
      message: /request\.namespace is missing/,
    },
  ];
  for (const input of deniedWithReason) {
    it(`denies a review with ${input.name}, saying why`, async () => {
      const answer = await webhook().post(envelope(input.request));
      expect(answer.status).toBe(200);
      const review = JSON.parse(answer.body) as {
        response: { uid: string; allowed: boolean; status: { code: number; message: string } };
      };
      expect(review.response).toMatchObject({
        uid: input.request.uid,
        allowed: false,
        status: { code: 400 },
      });
      expect(review.response.status.message).toMatch(input.message);
    });
  }

  it('keeps serving after all of that, and counts outcomes in /metrics', async () => {
    expect((await webhook().get('/healthz')).status).toBe(200);
    const mutated = await webhook().review(podFor('web'));
    expect(mutated.review.response.allowed).toBe(true);
    const metrics = await webhook().get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(
      metricValue(metrics.body, 'idbridge_webhook_admissions_total{outcome="mutated"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metricValue(metrics.body, 'idbridge_webhook_admissions_total{outcome="denied"}'),
    ).toBeGreaterThanOrEqual(deniedWithReason.length);
    // The body limit answers 413 before the route runs; every other refusal is counted.
    expect(metricValue(metrics.body, 'idbridge_webhook_admissions_total{outcome="error"}')).toBe(
      refusedOutright.length - 1,
    );
    expect(metrics.body).toMatch(
      /idbridge_webhook_admission_duration_seconds_bucket\{le="0.005",outcome="mutated"\}/,
    );
  });

  it("accepts the ?timeout= kube-apiserver appends to the webhook's path", async () => {
    const answer = await httpsRequest(`${webhook().url}/mutate-v1-pod?timeout=5s`, {
      ca: webhook().ca,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(admissionReview(podFor('web'))),
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body).response).toMatchObject({
      allowed: true,
      patchType: 'JSONPatch',
    });
  });

  it('answers unknown routes with 404 and the list of routes', async () => {
    const answer = await webhook().get('/mutate');
    expect(answer.status).toBe(404);
    expect(answer.body).toMatch(/POST \/mutate-v1-pod/);
  });

  it('never logs the Kubernetes credentials or the rendered configuration', () => {
    const logs = webhook().logs.join('');
    expect(logs).not.toContain(webhook().kube.token);
    expect(logs).not.toContain('external_account');
    expect(logs).toMatch(/"msg":"admission".*"outcome":"mutated".*"pod":"web-\*"/);
  });
});

describe('idbridge webhook: ServiceAccounts from the informer cache, live GET on a miss', () => {
  const webhook = useWebhook({
    serviceAccounts: [{ namespace: 'apps', name: 'web', annotations: ANNOTATED }],
    env: { IDBRIDGE_WEBHOOK_LOOKUP_TIMEOUT: '300' },
  });
  afterEach(() => webhook().kube.resumeWatches());

  const gets = (name: string) =>
    webhook().kube.requests.filter(
      (r) => r === `GET /api/v1/namespaces/apps/serviceaccounts/${name}`,
    ).length;

  it('answers from the cache: no GET for a ServiceAccount the watch delivered', async () => {
    const answer = await webhook().review(podFor('web'));
    expect(answer.patch).toBeDefined();
    expect(gets('web')).toBe(0);
  });

  it('sees a ServiceAccount created a moment ago, before its watch event arrives (live GET)', async () => {
    webhook().kube.pauseWatches();
    webhook().kube.upsert({ namespace: 'apps', name: 'fresh', annotations: ANNOTATED });
    const answer = await webhook().review(podFor('fresh'));
    expect(answer.patch).toBeDefined();
    expect(gets('fresh')).toBe(1);
    const metrics = await webhook().get('/metrics');
    expect(
      metricValue(
        metrics.body,
        'idbridge_webhook_serviceaccount_cache_misses_total{result="found"}',
      ),
    ).toBe(1);
    // Once the held event is delivered, the cache answers and no further GET is made.
    webhook().kube.resumeWatches();
    await waitFor(async () => {
      const before = gets('fresh');
      await webhook().review(podFor('fresh'));
      return gets('fresh') === before;
    }, 'the watch event');
  });

  it('follows annotation changes and deletions through the watch', async () => {
    webhook().kube.upsert({ namespace: 'apps', name: 'changing' });
    await waitFor(
      async () =>
        (await webhook().review(podFor('changing'))).patch === undefined && gets('changing') === 0,
      'the ServiceAccount in the cache',
    );
    webhook().kube.upsert({ namespace: 'apps', name: 'changing', annotations: ANNOTATED });
    await waitFor(
      async () => (await webhook().review(podFor('changing'))).patch !== undefined,
      'the annotation change',
    );
    webhook().kube.remove('apps', 'changing');
    await waitFor(
      async () =>
        ((await webhook().review(podFor('changing'))).review.response.warnings ?? []).some((w) =>
          /not found/.test(w),
        ),
      'the deletion',
    );
  });

  it('resumes watching after the API server closes the watch', async () => {
    webhook().kube.closeWatches();
    await waitFor(() => webhook().kube.openWatches() === 1, 'the watch to reconnect');
    webhook().kube.upsert({ namespace: 'apps', name: 'after-reconnect', annotations: ANNOTATED });
    const before = gets('after-reconnect');
    await waitFor(async () => {
      await webhook().review(podFor('after-reconnect'));
      return gets('after-reconnect') === before;
    }, 'the event after reconnecting');
  });

  it('relists when its resourceVersion expired (410 Gone)', async () => {
    webhook().kube.compact();
    webhook().kube.closeWatches();
    webhook().kube.upsert({ namespace: 'apps', name: 'after-relist', annotations: ANNOTATED });
    webhook().kube.compact();
    await waitFor(() => webhook().kube.openWatches() === 1, 'the watch to come back');
    await waitFor(async () => {
      const before = gets('after-relist');
      await webhook().review(podFor('after-relist'));
      return gets('after-relist') === before;
    }, 'the relisted ServiceAccount in the cache');
  });

  it('a failing lookup is a 502 (the failurePolicy decides), never a crash or a silent admit', async () => {
    webhook().kube.pauseWatches();
    webhook().kube.upsert({ namespace: 'apps', name: 'forbidden', annotations: ANNOTATED });
    webhook().kube.failNext('get', 403);
    const answer = await webhook().post(JSON.stringify(admissionReview(podFor('forbidden'))));
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.body).error.message).toMatch(
      /could not read ServiceAccount apps\/forbidden.*HTTP 403: injected fault \(403\).*get\/list\/watch serviceaccounts/,
    );
    expect(answer.body).not.toContain(webhook().kube.token);
  });

  it('a lookup slower than --lookup-timeout is a 504', async () => {
    webhook().kube.pauseWatches();
    webhook().kube.upsert({ namespace: 'apps', name: 'slow', annotations: ANNOTATED });
    webhook().kube.setGetDelay(2000);
    try {
      const answer = await webhook().post(JSON.stringify(admissionReview(podFor('slow'))));
      expect(answer.status).toBe(504);
      expect(answer.body).toMatch(/no answer within 300 ms/);
    } finally {
      webhook().kube.setGetDelay(0);
    }
    expect((await webhook().get('/healthz')).status).toBe(200);
  });
});

describe('idbridge webhook: readiness waits for the first list', () => {
  it('is not ready until a list succeeds, admits meanwhile through live GETs, and retries a failed list', async () => {
    const webhook = await startWebhookHarness({
      serviceAccounts: [{ namespace: 'apps', name: 'web', annotations: ANNOTATED }],
      waitReady: false,
      beforeStart: (kube) => {
        kube.hold('list');
        kube.failNext('list', 500, 1);
      },
    });
    try {
      const notReady = await webhook.get('/readyz');
      expect(notReady.status).toBe(503);
      expect(notReady.body).toMatch(/ServiceAccount cache has not completed its first list/);
      expect((await webhook.get('/healthz')).status).toBe(200);
      expect((await webhook.review(podFor('web'))).patch).toBeDefined();
      webhook.kube.release('list');
      await waitFor(
        () => webhook.logs.some((l) => /ServiceAccount watch failed.*HTTP 500/.test(l)),
        'the failed list to be logged',
      );
      await waitFor(
        async () => (await webhook.get('/readyz')).status === 200,
        'readiness after the retried list',
      );
    } finally {
      await webhook.close();
    }
  });
});

describe('idbridge webhook: configurable policies', () => {
  const webhook = useWebhook({
    serviceAccounts: [
      {
        namespace: 'apps',
        name: 'web',
        annotations: {
          'wif.example.com/workload-identity-provider': PROVIDER,
          'wif.example.com/service-account-email': EMAIL,
        },
      },
      { namespace: 'apps', name: 'default-prefix', annotations: ANNOTATED },
    ],
    env: {
      IDBRIDGE_WEBHOOK_MISSING_SERVICE_ACCOUNT: 'deny',
      IDBRIDGE_WEBHOOK_OVERWRITE_ENV: 'true',
      IDBRIDGE_WEBHOOK_DEFAULT_REGION: 'europe-west1',
      IDBRIDGE_WEBHOOK_FILE_MODE: '0440',
      IDBRIDGE_WEBHOOK_ANNOTATION_PREFIX: 'wif.example.com',
    },
  });

  it('denies a pod whose ServiceAccount is missing when configured to', async () => {
    const answer = await webhook().review(podFor('ghost'));
    expect(answer.review.response).toMatchObject({
      allowed: false,
      status: { code: 403, reason: 'Forbidden' },
    });
    expect(answer.review.response.status!.message).toMatch(/ServiceAccount apps\/ghost not found/);
  });

  it('overwrites variables the user set when configured to, adds the region, uses the file mode', async () => {
    const pod = podFor('web', [{ name: 'GOOGLE_APPLICATION_CREDENTIALS', value: '/old/key.json' }]);
    const answer = await webhook().review(pod);
    const patched = applyAndValidate(pod, answer.patch);
    expect(envOf(patched.spec.containers[0]!)).toMatchObject({
      GOOGLE_APPLICATION_CREDENTIALS: '/var/run/secrets/gcloud/config/federation.json',
      CLOUDSDK_COMPUTE_REGION: 'europe-west1',
    });
    expect(patched.spec.volumes!.find((v) => v.name === 'gcp-iam-token')).toMatchObject({
      projected: { defaultMode: 0o440 },
    });
  });

  it('reads and writes annotations under the configured prefix only', async () => {
    const pod = podFor('web');
    const patched = applyAndValidate(pod, (await webhook().review(pod)).patch);
    expect(Object.keys(patched.metadata.annotations!)).toEqual([
      'wif.example.com/external-credentials-json',
    ]);
    expect(
      patched.spec.volumes!.find((v) => v.name === 'external-credential-config'),
    ).toMatchObject({
      downwardAPI: {
        items: [
          {
            fieldRef: {
              fieldPath: "metadata.annotations['wif.example.com/external-credentials-json']",
            },
          },
        ],
      },
    });
    expect((await webhook().review(podFor('default-prefix'))).patch).toBeUndefined();
  });
});

describe('idbridge webhook: TLS', () => {
  it('honours the minimum TLS version', async () => {
    const webhook = await startWebhookHarness({
      env: { IDBRIDGE_WEBHOOK_TLS_MIN_VERSION: 'TLSv1.3' },
    });
    try {
      const ok = await webhook.get('/healthz');
      expect(ok.protocol).toBe('TLSv1.3');
      const refused = await httpsRequest(`${webhook.url}/healthz`, {
        ca: webhook.ca,
        maxVersion: 'TLSv1.2',
      }).catch((err: Error) => err);
      expect(refused).toBeInstanceOf(Error);
    } finally {
      await webhook.close();
    }
  });

  it('reloads a rotated certificate without a restart, and keeps the old one when the new pair is broken', async () => {
    const webhook = await startWebhookHarness({
      env: { IDBRIDGE_WEBHOOK_TLS_RELOAD_INTERVAL: '0.1' },
    });
    try {
      const before = await webhook.get('/healthz');
      expect(before.peer.subjectCN).toBe('idbridge-webhook.test');

      // A broken rotation: a new certificate next to the old key. Refused; the old pair serves on.
      const next = await makeCertificate(webhook.dir, 'next', 'idbridge-webhook.rotated');
      await copyFile(next.certFile, join(webhook.dir, 'staged.crt'));
      await rename(join(webhook.dir, 'staged.crt'), webhook.certificate.certFile);
      await waitFor(
        () =>
          webhook.logs.some((l) => /serving certificate not reloaded.*key values mismatch/.test(l)),
        'the mismatch to be noticed',
      );
      const during = await httpsRequest(`${webhook.url}/healthz`, { ca: [webhook.ca, next.cert] });
      expect(during.peer.fingerprint256).toBe(before.peer.fingerprint256);

      // The key arrives: the new pair is served on the next connection.
      await copyFile(next.keyFile, join(webhook.dir, 'staged.key'));
      await rename(join(webhook.dir, 'staged.key'), webhook.certificate.keyFile);
      await waitFor(
        async () =>
          (await httpsRequest(`${webhook.url}/healthz`, { ca: [webhook.ca, next.cert] })).peer
            .subjectCN === 'idbridge-webhook.rotated',
        'the rotated certificate',
      );
      const metrics = await httpsRequest(`${webhook.url}/metrics`, { ca: next.cert });
      expect(
        metricValue(metrics.body, 'idbridge_webhook_certificate_reloads_total{result="reloaded"}'),
      ).toBe(1);
      expect(
        metricValue(metrics.body, 'idbridge_webhook_certificate_reloads_total{result="failed"}'),
      ).toBeGreaterThanOrEqual(1);
    } finally {
      await webhook.close();
    }
  });

  it('refuses to start with a certificate and key that do not match, saying so', async () => {
    const { loadWebhookConfig } = await import('../../src/webhook/config.js');
    const { startWebhook } = await import('../../src/hosts/node/webhook.js');
    const { silentLogger } = await import('../../src/log/logger.js');
    const webhook = await startWebhookHarness();
    try {
      const other = await makeCertificate(webhook.dir, 'other');
      await writeFile(join(webhook.dir, 'garbage.crt'), 'not a certificate');
      const base = {
        IDBRIDGE_WEBHOOK_HOST: '127.0.0.1',
        IDBRIDGE_WEBHOOK_PORT: '0',
        IDBRIDGE_WEBHOOK_KUBECONFIG: join(webhook.dir, 'kubeconfig'),
      };
      await expect(
        startWebhook(
          loadWebhookConfig({
            ...base,
            IDBRIDGE_WEBHOOK_TLS_CERT_FILE: other.certFile,
            IDBRIDGE_WEBHOOK_TLS_KEY_FILE: webhook.certificate.keyFile,
          }),
          silentLogger,
        ),
      ).rejects.toThrow(/not a usable certificate and key: .*key values mismatch/);
      await expect(
        startWebhook(
          loadWebhookConfig({
            ...base,
            IDBRIDGE_WEBHOOK_TLS_CERT_FILE: join(webhook.dir, 'garbage.crt'),
            IDBRIDGE_WEBHOOK_TLS_KEY_FILE: webhook.certificate.keyFile,
          }),
          silentLogger,
        ),
      ).rejects.toThrow(/not a usable certificate/);
      await expect(
        startWebhook(
          loadWebhookConfig({
            ...base,
            IDBRIDGE_WEBHOOK_TLS_CERT_FILE: join(webhook.dir, 'missing.crt'),
            IDBRIDGE_WEBHOOK_TLS_KEY_FILE: webhook.certificate.keyFile,
          }),
          silentLogger,
        ),
      ).rejects.toThrow(/cannot read the serving certificate or key \(ENOENT/);
    } finally {
      await webhook.close();
    }
  });
});

describe('idbridge webhook: names that are not Kubernetes names are never looked up', () => {
  const webhook = useWebhook({
    serviceAccounts: [{ namespace: 'apps', name: 'web', annotations: ANNOTATED }],
  });

  /** Lookups of one object (list and watch requests are the informer's own). */
  const lookups = () =>
    webhook().kube.requests.filter((r) => r.startsWith('GET /api/v1/namespaces')).length;

  it.each([
    ['..', 'apps'],
    ['.', 'apps'],
    ['a/b', 'apps'],
    ['%2e%2e', 'apps'],
    ['Web', 'apps'],
    ['web.', 'apps'],
    ['a'.repeat(254), 'apps'],
    ['web', '..'],
    ['web', 'Apps'],
    ['web', 'a'.repeat(64)],
  ])(
    'denies serviceAccountName %j in namespace %j with a 400 saying why, with no request to the API server',
    async (name, namespace) => {
      const before = lookups();
      const answer = await webhook().review(
        {
          metadata: { name: 'p' },
          spec: { serviceAccountName: name, containers: [{ name: 'app', image: 'x' }] },
        },
        { namespace },
      );
      expect(answer.status).toBe(200);
      expect(answer.review.response).toMatchObject({
        allowed: false,
        status: { code: 400, reason: 'BadRequest' },
      });
      expect(answer.review.response.status!.message).toMatch(
        namespace === 'apps'
          ? /spec\.serviceAccountName .* is not a valid ServiceAccount name \(a lowercase RFC 1123 DNS subdomain/
          : /request\.namespace .* is not a valid namespace name/,
      );
      expect(answer.patch).toBeUndefined();
      expect(lookups()).toBe(before);
    },
  );

  it('still admits a valid name with dots, as Kubernetes allows', async () => {
    webhook().kube.upsert({ namespace: 'apps', name: 'web.v2', annotations: ANNOTATED });
    await waitFor(
      async () => (await webhook().review(podFor('web.v2'))).patch !== undefined,
      'the new ServiceAccount to be seen',
    );
  });

  it('answers an AdmissionReview nested 30,000 deep with HTTP 400, saying why', async () => {
    const answer = await webhook().post(
      `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
    );
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({
      error: {
        code: 'invalid_request',
        message: expect.stringMatching(/more than 64 levels deep/),
      },
    });
    expect((await webhook().get('/healthz')).status).toBe(200);
  });
});
