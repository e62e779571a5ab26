import type { Operation } from 'fast-json-patch';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  startWebhookHarness,
  type DecodedReview,
  type WebhookHarness,
} from '../support/webhook.js';
import { applyAndValidate, type ContainerObject, type PodObject } from './pod-checks.js';

/**
 * What the webhook's fixture tables share: the Google identity their ServiceAccounts name, the pods
 * they admit, one webhook per describe block, and the way a table of admissions or denials is run
 * against it.
 */

export const PROVIDER =
  'projects/123456789/locations/global/workloadIdentityPools/on-prem/providers/cluster-a';
export const EMAIL = 'app-x@my-project-1.iam.gserviceaccount.com';
export const CONFIG_PATH = '/var/run/secrets/gcloud/config/federation.json';

export const container = (name: string, extra: Partial<ContainerObject> = {}): ContainerObject => ({
  name,
  image: `example/${name}:1`,
  ...extra,
});

/** Pod web-1 in namespace apps with one container, app; `spec` and `metadata` add to or replace that. */
export function podOf(
  serviceAccountName: string | undefined,
  spec: Partial<PodObject['spec']> = {},
  metadata: Partial<PodObject['metadata']> = {},
): PodObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web-1', namespace: 'apps', ...metadata },
    spec: {
      ...(serviceAccountName ? { serviceAccountName } : {}),
      containers: [container('app')],
      ...spec,
    },
  };
}

export const allContainers = (patched: PodObject) => [
  ...(patched.spec.initContainers ?? []),
  ...patched.spec.containers,
];

/**
 * The webhook harness, started before the tests of the describe block this is called in and closed
 * after them.
 */
export function useWebhook(
  options: Parameters<typeof startWebhookHarness>[0],
): () => WebhookHarness {
  let webhook: WebhookHarness | undefined;
  beforeAll(async () => {
    webhook = await startWebhookHarness(options);
  });
  afterAll(async () => {
    await webhook?.close();
  });
  return () => webhook!;
}

export interface AdmissionFixture {
  name: string;
  pod: PodObject;
  /** The exact patch, when the fixture pins it; 'none' when the pod must be admitted as it is. */
  patch?: Operation[] | 'none';
  /** Every warning, in order, when the fixture pins them. */
  warnings?: RegExp[];
  check?: (patched: PodObject, answer: DecodedReview) => void;
}

/**
 * A test per fixture, named after it: the pod is admitted with the patch and warnings the fixture
 * pins, the patched pod is valid and passes the fixture's check, and a reinvocation adds nothing.
 * With `envelope`, each review also carries its own uid, and the AdmissionReview around the answer
 * (apiVersion, kind, that uid, no patchType without a patch) is checked too.
 */
export function itAdmitsEach(
  webhook: () => WebhookHarness,
  fixtures: AdmissionFixture[],
  options: { envelope?: boolean } = {},
): void {
  for (const fixture of fixtures) {
    it(fixture.name, async () => {
      const uid = `uid-${fixture.name.length}`;
      const answer = await webhook().review(fixture.pod, options.envelope ? { uid } : {});
      expect(answer.status).toBe(200);
      if (options.envelope)
        expect(answer.review).toMatchObject({
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          response: { uid, allowed: true },
        });
      else expect(answer.review.response.allowed).toBe(true);
      if (fixture.patch === 'none') {
        expect(answer.patch).toBeUndefined();
        if (options.envelope) expect(answer.review.response.patchType).toBeUndefined();
      } else {
        expect(answer.review.response.patchType).toBe('JSONPatch');
        if (fixture.patch) expect(answer.patch).toEqual(fixture.patch);
      }
      const warnings = answer.review.response.warnings ?? [];
      if (fixture.warnings) {
        expect(warnings).toHaveLength(fixture.warnings.length);
        fixture.warnings.forEach((pattern, i) => expect(warnings[i]).toMatch(pattern));
      }
      const patched = applyAndValidate(fixture.pod, answer.patch);
      fixture.check?.(patched, answer);

      // Reinvocation (reinvocationPolicy: IfNeeded): the mutated pod needs nothing more.
      if (answer.patch) {
        const again = await webhook().review(patched);
        expect(again.review.response.allowed).toBe(true);
        expect(again.patch).toBeUndefined();
      }
    });
  }
}

export interface Refusal {
  name: string;
  pod: PodObject;
  /** Every part that must be in the denial's message: the annotation and the fix. */
  message: RegExp[];
}

/**
 * A test per refusal: the pod is denied (400, BadRequest, no patch) with a message that has every
 * part the refusal names; `check` then looks at that message further.
 */
export function itDeniesEach<R extends Refusal>(
  webhook: () => WebhookHarness,
  refusals: R[],
  check?: (message: string, refusal: R) => void,
): void {
  for (const refusal of refusals) {
    it(`denies ${refusal.name}, naming the annotation and the fix`, async () => {
      const answer = await webhook().review(refusal.pod);
      expect(answer.status).toBe(200);
      expect(answer.review.response).toMatchObject({
        allowed: false,
        status: { code: 400, reason: 'BadRequest' },
      });
      expect(answer.patch).toBeUndefined();
      const message = answer.review.response.status!.message;
      for (const part of refusal.message) expect(message).toMatch(part);
      check?.(message, refusal);
    });
  }
}
