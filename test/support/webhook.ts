import { randomUUID } from 'node:crypto';
import type { Operation } from 'fast-json-patch';
import { loadWebhookConfig, type WebhookEnvironment } from '../../src/webhook/config.js';
import type { AdmissionReviewResponse } from '../../src/webhook/admission-review.js';
import { createLogger } from '../../src/log/logger.js';
import { startWebhook, type RunningWebhook } from '../../src/hosts/node/webhook.js';
import {
  startFakeKubeServiceAccounts,
  type FakeKubeServiceAccounts,
  type FakeServiceAccount,
} from '../fakes/kube-serviceaccounts.js';
import { tempDir } from './serve.js';
import { httpsRequest, makeCertificate, type HttpsAnswer, type TestCertificate } from './tls.js';

export interface WebhookHarness {
  url: string;
  ca: string;
  kube: FakeKubeServiceAccounts;
  running: RunningWebhook;
  certificate: TestCertificate;
  dir: string;
  logs: string[];
  /** POSTs a raw body to /mutate-v1-pod. */
  post(body: string | Buffer, headers?: Record<string, string>): Promise<HttpsAnswer>;
  /** Sends a pod-creation review and returns the decoded answer. */
  review(pod: object, options?: ReviewOptions): Promise<DecodedReview>;
  get(path: string): Promise<HttpsAnswer>;
  close(): Promise<void>;
}

export interface ReviewOptions {
  namespace?: string;
  operation?: string;
  kind?: { group: string; version: string; kind: string };
  uid?: string;
}

export interface DecodedReview {
  status: number;
  review: AdmissionReviewResponse;
  /** The decoded JSON patch, or undefined when the answer carries none. */
  patch?: Operation[];
}

export function admissionReview(pod: object, options: ReviewOptions = {}): object {
  const namespace = options.namespace ?? 'apps';
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? randomUUID(),
      kind: options.kind ?? { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      namespace,
      operation: options.operation ?? 'CREATE',
      userInfo: {
        username: 'system:serviceaccount:kube-system:replicaset-controller',
        groups: ['system:serviceaccounts', 'system:authenticated'],
      },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

/** `idbridge webhook` in this process on a free loopback port, TLS from openssl, ServiceAccounts from the fake API. */
export async function startWebhookHarness(
  options: {
    serviceAccounts?: FakeServiceAccount[];
    env?: Partial<Record<keyof WebhookEnvironment, string>>;
    waitReady?: boolean;
    beforeStart?: (kube: FakeKubeServiceAccounts) => void;
  } = {},
): Promise<WebhookHarness> {
  const dir = await tempDir('idbridge-webhook-');
  const kube = await startFakeKubeServiceAccounts(options.serviceAccounts ?? []);
  const certificate = await makeCertificate(dir.path);
  options.beforeStart?.(kube);
  const config = loadWebhookConfig({
    IDBRIDGE_WEBHOOK_HOST: '127.0.0.1',
    IDBRIDGE_WEBHOOK_PORT: '0',
    IDBRIDGE_WEBHOOK_TLS_CERT_FILE: certificate.certFile,
    IDBRIDGE_WEBHOOK_TLS_KEY_FILE: certificate.keyFile,
    IDBRIDGE_WEBHOOK_KUBECONFIG: await kube.writeKubeconfig(dir.path),
    ...options.env,
  });
  const logs: string[] = [];
  const running = await startWebhook(
    config,
    createLogger((line) => logs.push(line)),
  );
  const ca = certificate.cert;
  const post = (
    body: string | Buffer,
    headers: Record<string, string> = { 'content-type': 'application/json' },
  ) => httpsRequest(`${running.url}/mutate-v1-pod`, { ca, method: 'POST', body, headers });
  const harness: WebhookHarness = {
    url: running.url,
    ca,
    kube,
    running,
    certificate,
    dir: dir.path,
    logs,
    post,
    async review(pod, reviewOptions) {
      const answer = await post(JSON.stringify(admissionReview(pod, reviewOptions)));
      const review = JSON.parse(answer.body) as AdmissionReviewResponse;
      const patch = review.response?.patch
        ? (JSON.parse(Buffer.from(review.response.patch, 'base64').toString('utf8')) as Operation[])
        : undefined;
      return { status: answer.status, review, ...(patch ? { patch } : {}) };
    },
    get: (path) => httpsRequest(`${running.url}${path}`, { ca }),
    close: async () => {
      await running.close();
      await kube.close();
      await dir.remove();
    },
  };
  if (options.waitReady !== false)
    await waitFor(
      async () => (await harness.get('/readyz')).status === 200,
      'the webhook to become ready',
    );
  return harness;
}

/** Polls `check` until it holds (no wall-clock assertions: only a generous ceiling). */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
