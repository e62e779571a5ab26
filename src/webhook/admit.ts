import {
  admissionRequestSchema,
  allowed,
  denied,
  podSchema,
  type AdmissionReviewResponse,
} from './admission-review.js';
import { describeIssues, zodDetails } from '../errors/zod.js';
import { OPT_OUT_LABEL, resolveInjection, type InjectionDefaults } from './annotations.js';
import type { AdmissionOutcome } from './metrics.js';
import { serviceAccountRefProblem } from './kube-names.js';
import { chooseMetadataServer, type MetadataServerSettings } from './metadata-server.js';
import { awsInjection, azureInjection, resolveAws, resolveAzure } from './clouds.js';
import {
  googleInjection,
  mutatePodFor,
  podOs,
  type CloudInjection,
  type MutationSettings,
} from './pod-mutation.js';
import type { ServiceAccountSource } from './service-accounts.js';

export interface AdmitOptions {
  serviceAccounts: ServiceAccountSource;
  defaults: InjectionDefaults;
  mutation: MutationSettings;
  /** A pod whose ServiceAccount does not exist: admitted unmutated with a warning, or denied. */
  missingServiceAccount: 'admit' | 'deny';
  /** Absent: no metadata server wiring (as `--metadata-server=never`). */
  metadataServer?: MetadataServerSettings;
}

export interface Admission {
  review: AdmissionReviewResponse;
  outcome: AdmissionOutcome;
  /** For the log line: who was admitted (never annotation values or tokens). */
  subject?: { namespace: string; pod: string; serviceAccount?: string };
}

/**
 * The decision for one AdmissionReview request (its envelope already checked). Throws only when
 * the ServiceAccount cannot be read: the HTTP layer answers 5xx and the MutatingWebhookConfiguration's
 * failurePolicy decides, as for any webhook outage.
 */
export async function admit(
  request: { uid: string } & Record<string, unknown>,
  options: AdmitOptions,
): Promise<Admission> {
  const uid = request.uid;
  const parsed = admissionRequestSchema.safeParse(request);
  if (!parsed.success) {
    return {
      outcome: 'denied',
      review: denied(
        uid,
        400,
        `malformed AdmissionReview: ${describeIssues(zodDetails(parsed.error, { prefix: 'request', limit: 5 }))}`,
      ),
    };
  }
  const req = parsed.data;
  // Only pod creation is mutated; anything else the configuration routes here passes untouched.
  if (req.kind.group !== '' || req.kind.kind !== 'Pod' || req.operation !== 'CREATE') {
    return { outcome: 'skipped', review: allowed(uid) };
  }
  const pod = podSchema.safeParse(req.object);
  if (!pod.success) {
    return {
      outcome: 'denied',
      review: denied(
        uid,
        400,
        `malformed pod in the AdmissionReview: ${describeIssues(zodDetails(pod.error, { prefix: 'request.object', limit: 5 }))}`,
      ),
    };
  }
  const namespace = req.namespace ?? '';
  if (!namespace)
    return {
      outcome: 'denied',
      review: denied(uid, 400, 'malformed AdmissionReview: request.namespace is missing for a pod'),
    };

  const metadata = pod.data.metadata;
  const podName =
    metadata?.name || (metadata?.generateName ? `${metadata.generateName}*` : '(unnamed)');
  const serviceAccountName = pod.data.spec.serviceAccountName || pod.data.spec.serviceAccount || '';
  const subject = {
    namespace,
    pod: podName,
    ...(serviceAccountName ? { serviceAccount: serviceAccountName } : {}),
  };
  if (metadata?.labels?.[OPT_OUT_LABEL] === 'false')
    return { outcome: 'skipped', review: allowed(uid), subject };
  // Mirror (static) pods have no ServiceAccount and cannot mount projected tokens.
  if (!serviceAccountName) return { outcome: 'skipped', review: allowed(uid), subject };

  // Checked before any lookup: "..", "." or "a/b" in a path would read another resource.
  const badName = serviceAccountRefProblem(namespace, serviceAccountName);
  if (badName) return { outcome: 'denied', review: denied(uid, 400, badName), subject };

  const serviceAccount = await options.serviceAccounts.get(namespace, serviceAccountName);
  if (!serviceAccount) {
    const message = `ServiceAccount ${namespace}/${serviceAccountName} not found, so no Google credentials were injected; create it (kubectl create serviceaccount -n ${namespace} ${serviceAccountName}) and recreate the pod`;
    if (options.missingServiceAccount === 'deny')
      return { outcome: 'denied', review: denied(uid, 403, message), subject };
    return {
      outcome: 'missing_service_account',
      review: allowed(uid, { warnings: [message] }),
      subject,
    };
  }

  const input = {
    serviceAccount,
    podAnnotations: metadata?.annotations ?? {},
    podLabels: metadata?.labels ?? {},
    defaults: options.defaults,
  };
  const google = resolveInjection(input);
  const aws = resolveAws(input);
  const azure = resolveAzure(input);
  const resolutions = [google, aws, azure];
  if (resolutions.every((r) => r.kind === 'none'))
    return { outcome: 'skipped', review: allowed(uid), subject };
  // Every cloud's problems at once (a broker problem shared by two clouds is said once).
  const problems = [
    ...new Set(resolutions.flatMap((r) => (r.kind === 'invalid' ? r.problems : []))),
  ];
  if (problems.length > 0)
    return { outcome: 'denied', review: denied(uid, 400, problems.join('; ')), subject };

  const os = podOs(pod.data);
  const metadataServer =
    google.kind === 'inject'
      ? chooseMetadataServer({
          settings: options.metadataServer ?? { mode: 'never' },
          serviceAccount,
          podAnnotations: input.podAnnotations,
          os,
          ...(google.plan.project !== undefined ? { project: google.plan.project } : {}),
        })
      : ({ kind: 'none', warnings: [] } as const);
  if (metadataServer.kind === 'invalid')
    return { outcome: 'denied', review: denied(uid, 400, metadataServer.problem), subject };
  const metadataPlan = metadataServer.kind === 'plan' ? metadataServer.plan : undefined;
  const injections: CloudInjection[] = [];
  if (google.kind === 'inject')
    injections.push(googleInjection(pod.data, google.plan, options.mutation, metadataPlan));
  if (aws.kind === 'inject') injections.push(awsInjection(aws.plan, os, options.mutation));
  if (azure.kind === 'inject') injections.push(azureInjection(azure.plan, os, options.mutation));
  const { patch, warnings } = mutatePodFor(pod.data, injections, options.mutation, metadataPlan);
  if (patch.length === 0) return { outcome: 'unchanged', review: allowed(uid), subject };
  const resolutionWarnings = [
    ...new Set(resolutions.flatMap((r) => (r.kind === 'inject' ? r.warnings : []))),
  ];
  return {
    outcome: 'mutated',
    review: allowed(uid, {
      patch,
      warnings: [...resolutionWarnings, ...metadataServer.warnings, ...warnings],
    }),
    subject,
  };
}
