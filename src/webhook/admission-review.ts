import { z } from 'zod';

/**
 * AdmissionReview `admission.k8s.io/v1` as kube-apiserver sends it to a mutating webhook, read
 * in two steps: the envelope (without a uid there is nobody to answer: HTTP 400), then the
 * request (anything wrong there is answered as a denied review that says what is wrong).
 * Objects are loose: fields this webhook does not know pass through untouched.
 */
export const ADMISSION_API_VERSION = 'admission.k8s.io/v1';

export const admissionReviewEnvelope = z.object({
  apiVersion: z.literal(ADMISSION_API_VERSION, {
    error: `apiVersion must be ${ADMISSION_API_VERSION}; list "v1" in the MutatingWebhookConfiguration's admissionReviewVersions`,
  }),
  kind: z.literal('AdmissionReview', { error: 'kind must be AdmissionReview' }),
  request: z.looseObject(
    {
      uid: z
        .string({ error: 'request.uid must be a string' })
        .min(1, 'request.uid is empty')
        .max(256, 'request.uid is longer than 256 characters'),
    },
    { error: 'request must be an object (an AdmissionReview sent by kube-apiserver)' },
  ),
});

const stringMap = z.record(z.string(), z.string()).nullish();

const envVar = z.looseObject({
  name: z.string(),
  value: z.string().nullish(),
  valueFrom: z.unknown().optional(),
});
const volumeMount = z.looseObject({ name: z.string(), mountPath: z.string() });
export const containerSchema = z.looseObject({
  name: z.string().min(1),
  env: z.array(envVar).nullish(),
  volumeMounts: z.array(volumeMount).nullish(),
});

export const podSchema = z.looseObject({
  metadata: z
    .looseObject({
      name: z.string().nullish(),
      generateName: z.string().nullish(),
      annotations: stringMap,
      labels: stringMap,
    })
    .nullish(),
  spec: z.looseObject({
    serviceAccountName: z.string().nullish(),
    serviceAccount: z.string().nullish(),
    os: z.looseObject({ name: z.string() }).nullish(),
    nodeSelector: stringMap,
    volumes: z.array(z.looseObject({ name: z.string() })).nullish(),
    containers: z.array(containerSchema),
    initContainers: z.array(containerSchema).nullish(),
  }),
});

export const admissionRequestSchema = z.looseObject({
  uid: z.string(),
  kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }),
  operation: z.string(),
  namespace: z.string().nullish(),
  object: z.unknown(),
  dryRun: z.boolean().nullish(),
});

export type PodView = z.infer<typeof podSchema>;
export type ContainerView = z.infer<typeof containerSchema>;
export type AdmissionRequest = z.infer<typeof admissionRequestSchema>;

export interface AdmissionResponseBody {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  /** base64 of the JSON Patch (RFC 6902). */
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string; reason?: string };
}

export interface AdmissionReviewResponse {
  apiVersion: typeof ADMISSION_API_VERSION;
  kind: 'AdmissionReview';
  response: AdmissionResponseBody;
}

export interface JsonPatchOperation {
  op: 'add' | 'replace';
  path: string;
  value: unknown;
}

/** Kubernetes shows warnings to users; long ones are cut so they stay readable. */
const MAX_WARNING_LENGTH = 240;
const clip = (warnings: string[]) =>
  warnings.map((w) =>
    w.length > MAX_WARNING_LENGTH ? `${w.slice(0, MAX_WARNING_LENGTH - 1)}…` : w,
  );

export function allowed(
  uid: string,
  options: { patch?: JsonPatchOperation[]; warnings?: string[] } = {},
): AdmissionReviewResponse {
  const response: AdmissionResponseBody = { uid, allowed: true };
  if (options.patch && options.patch.length > 0) {
    response.patchType = 'JSONPatch';
    response.patch = Buffer.from(JSON.stringify(options.patch)).toString('base64');
  }
  if (options.warnings && options.warnings.length > 0) response.warnings = clip(options.warnings);
  return { apiVersion: ADMISSION_API_VERSION, kind: 'AdmissionReview', response };
}

export function denied(
  uid: string,
  code: 400 | 403 | 404,
  message: string,
  warnings: string[] = [],
): AdmissionReviewResponse {
  const reason = code === 400 ? 'BadRequest' : code === 403 ? 'Forbidden' : 'NotFound';
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    response: {
      uid,
      allowed: false,
      status: { code, message, reason },
      ...(warnings.length > 0 ? { warnings: clip(warnings) } : {}),
    },
  };
}
