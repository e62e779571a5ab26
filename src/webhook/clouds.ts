import type { V1EnvVar } from '@kubernetes/client-node';
import {
  AWS_ANNOTATIONS,
  AWS_ENV,
  AZURE_ANNOTATIONS,
  AZURE_DEFAULT_AUTHORITY_HOST,
  AZURE_ENV,
  CONVENTIONS,
  parseSkipList,
  projectedTokenVolume,
  resolveExpiration,
  tokenPaths,
  type CloudConventions,
  type PodOs,
} from './conventions.js';
import { resolveBroker, type ResolveInput } from './annotations.js';
import type { CloudInjection, MutationSettings } from './pod-mutation.js';

/**
 * The AWS and Azure decisions, as pure functions of the ServiceAccount, the pod's annotations and
 * labels and the webhook's defaults (the Google one is annotations.ts). Each returns a plan, or
 * the problems that deny the pod with their fix; `awsInjection`/`azureInjection` turn a plan into
 * what the one mutation path merges.
 */

/** The amazon-eks-pod-identity-webhook's own check of a role ARN (any partition). */
export const ROLE_ARN = /^arn:aws[a-z0-9-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A tenant is its GUID or one of its verified domains (contoso.onmicrosoft.com). */
export const TENANT =
  /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)+)$/i;
export const AWS_REGION = /^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$/;
const AUDIENCE = /^[\x21-\x7e]{1,256}$/;
/** Go's strconv.ParseBool, which the AWS webhook reads sts-regional-endpoints with. */
const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

export interface AwsPlan {
  roleArn: string;
  audience: string;
  expirationSeconds: number;
  regionalSts: boolean;
  region?: string;
  /** AWS_ENDPOINT_URL_STS: the broker's STS endpoint. */
  stsEndpoint?: string;
  skipContainers: string[];
}

export interface AzurePlan {
  clientId?: string;
  tenantId?: string;
  audience: string;
  expirationSeconds: number;
  authorityHost: string;
  skipContainers: string[];
}

export type CloudResolution<Plan> =
  | { kind: 'none' }
  | { kind: 'inject'; plan: Plan; warnings: string[] }
  | { kind: 'invalid'; problems: string[] };

export interface CloudInput extends ResolveInput {
  podLabels: Record<string, string>;
}

const show = (value: string) =>
  JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);

function describe(serviceAccount: ResolveInput['serviceAccount']) {
  const where = `ServiceAccount ${serviceAccount.namespace}/${serviceAccount.name}`;
  const fix = (key: string, example: string) =>
    `fix it with: kubectl annotate serviceaccount -n ${serviceAccount.namespace} ${serviceAccount.name} --overwrite ${key}=${example}`;
  return { where, fix };
}

/** The broker base URL with a path appended (`https://broker/x` + `/aws/sts`). */
export function brokerEndpoint(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

/**
 * What AWS and Azure resolve alike: the token lifetime from the ServiceAccount's annotation, the
 * pod's winning, and the broker the ServiceAccount (or the webhook) names; their problems and
 * warnings are added to the cloud's own.
 */
function expirationAndBroker(
  conventions: CloudConventions,
  key: string,
  { serviceAccount, podAnnotations, defaults }: ResolveInput,
  where: string,
  out: { problems: string[]; warnings: string[] },
) {
  const expiration = resolveExpiration(conventions, [
    { where: `${where}: annotation`, key, value: serviceAccount.annotations[key] },
    { where: 'pod annotation', key, value: podAnnotations[key] },
  ]);
  const broker = resolveBroker(serviceAccount, defaults);
  out.problems.push(...expiration.problems, ...broker.problems);
  out.warnings.push(...expiration.warnings, ...broker.warnings);
  return { expiration, broker };
}

/** AWS: a ServiceAccount annotated eks.amazonaws.com/role-arn, as the upstream webhook. */
export function resolveAws({
  serviceAccount,
  podAnnotations,
  defaults,
}: ResolveInput): CloudResolution<AwsPlan> {
  const sa = serviceAccount.annotations;
  const roleArn = sa[AWS_ANNOTATIONS.roleArn];
  // The upstream webhook ignores an empty role-arn.
  if (roleArn === undefined || roleArn.trim() === '') return { kind: 'none' };
  const { where, fix } = describe(serviceAccount);
  const problems: string[] = [];
  const warnings: string[] = [];

  if (!ROLE_ARN.test(roleArn.trim()))
    problems.push(
      `${where}: annotation ${AWS_ANNOTATIONS.roleArn} ${show(roleArn)} is not an IAM role ARN (arn:aws:iam::ACCOUNT_ID:role/NAME, a 12-digit account id); ${fix(AWS_ANNOTATIONS.roleArn, 'arn:aws:iam::123456789012:role/my-role')}`,
    );

  const audienceValue = sa[AWS_ANNOTATIONS.audience];
  if (audienceValue !== undefined && !AUDIENCE.test(audienceValue))
    problems.push(
      `${where}: annotation ${AWS_ANNOTATIONS.audience} ${show(audienceValue)} must be 1-256 printable characters without spaces; ${fix(AWS_ANNOTATIONS.audience, CONVENTIONS.aws.defaultAudience)}`,
    );

  const regionalValue = sa[AWS_ANNOTATIONS.stsRegionalEndpoints];
  let regionalSts = false;
  if (regionalValue !== undefined) {
    if (GO_TRUE.has(regionalValue)) regionalSts = true;
    else if (!GO_FALSE.has(regionalValue))
      problems.push(
        `${where}: annotation ${AWS_ANNOTATIONS.stsRegionalEndpoints} ${show(regionalValue)} must be "true" or "false"; ${fix(AWS_ANNOTATIONS.stsRegionalEndpoints, 'true')}`,
      );
  }

  const { expiration, broker } = expirationAndBroker(
    CONVENTIONS.aws,
    AWS_ANNOTATIONS.tokenExpiration,
    { serviceAccount, podAnnotations, defaults },
    where,
    { problems, warnings },
  );

  if (problems.length > 0) return { kind: 'invalid', problems };
  return {
    kind: 'inject',
    warnings,
    plan: {
      roleArn: roleArn.trim(),
      audience: audienceValue ?? CONVENTIONS.aws.defaultAudience,
      expirationSeconds: expiration.seconds,
      regionalSts,
      ...(defaults.awsRegion ? { region: defaults.awsRegion } : {}),
      ...(broker.brokerUrl ? { stsEndpoint: brokerEndpoint(broker.brokerUrl, '/aws/sts') } : {}),
      skipContainers: parseSkipList(
        CONVENTIONS.aws,
        podAnnotations[AWS_ANNOTATIONS.skipContainers],
      ),
    },
  };
}

/** Azure: a pod labelled azure.workload.identity/use: "true", as azure-workload-identity. */
export function resolveAzure({
  serviceAccount,
  podAnnotations,
  podLabels,
  defaults,
}: CloudInput): CloudResolution<AzurePlan> {
  if (podLabels[AZURE_ANNOTATIONS.useLabel] !== 'true') return { kind: 'none' };
  const sa = serviceAccount.annotations;
  const { where, fix } = describe(serviceAccount);
  const problems: string[] = [];
  const warnings: string[] = [];

  const clientId = sa[AZURE_ANNOTATIONS.clientId]?.trim();
  if (clientId === undefined || clientId === '')
    warnings.push(
      `${where} has no ${AZURE_ANNOTATIONS.clientId}: AZURE_CLIENT_ID is not set, so the pod must set it itself; annotate it with the managed identity's or application's client id`,
    );
  else if (!GUID.test(clientId))
    problems.push(
      `${where}: annotation ${AZURE_ANNOTATIONS.clientId} ${show(clientId)} is not a client id (a GUID such as 00000000-0000-0000-0000-000000000000: az identity show --query clientId); ${fix(AZURE_ANNOTATIONS.clientId, 'CLIENT_ID')}`,
    );

  const tenantValue = sa[AZURE_ANNOTATIONS.tenantId]?.trim();
  let tenantId = defaults.azureTenantId;
  if (tenantValue !== undefined && tenantValue !== '') {
    if (!TENANT.test(tenantValue))
      problems.push(
        `${where}: annotation ${AZURE_ANNOTATIONS.tenantId} ${show(tenantValue)} is not a tenant (its GUID, or a domain such as contoso.onmicrosoft.com: az account show --query tenantId); ${fix(AZURE_ANNOTATIONS.tenantId, 'TENANT_ID')}`,
      );
    else tenantId = tenantValue;
  }
  if (tenantId === undefined)
    warnings.push(
      `${where} has no ${AZURE_ANNOTATIONS.tenantId} and the webhook has no --azure-tenant-id: AZURE_TENANT_ID is not set`,
    );

  const { expiration, broker } = expirationAndBroker(
    CONVENTIONS.azure,
    AZURE_ANNOTATIONS.tokenExpiration,
    { serviceAccount, podAnnotations, defaults },
    where,
    { problems, warnings },
  );

  if (problems.length > 0) return { kind: 'invalid', problems };
  return {
    kind: 'inject',
    warnings,
    plan: {
      ...(clientId ? { clientId } : {}),
      ...(tenantId ? { tenantId } : {}),
      audience: CONVENTIONS.azure.defaultAudience,
      expirationSeconds: expiration.seconds,
      authorityHost: broker.brokerUrl
        ? brokerEndpoint(broker.brokerUrl, '/azure/')
        : (defaults.azureAuthorityHost ?? AZURE_DEFAULT_AUTHORITY_HOST),
      skipContainers: parseSkipList(
        CONVENTIONS.azure,
        podAnnotations[AZURE_ANNOTATIONS.skipContainers],
      ),
    },
  };
}

/** The variables an AWS SDK reads, in the upstream webhook's order; reusable to drive an SDK. */
export function awsEnv(plan: AwsPlan, os: PodOs): V1EnvVar[] {
  const env: V1EnvVar[] = [];
  if (plan.regionalSts) env.push({ name: AWS_ENV.regionalEndpoints, value: 'regional' });
  if (plan.region)
    env.push(
      { name: AWS_ENV.defaultRegion, value: plan.region },
      { name: AWS_ENV.region, value: plan.region },
    );
  env.push(
    { name: AWS_ENV.roleArn, value: plan.roleArn },
    { name: AWS_ENV.tokenFile, value: tokenPaths(CONVENTIONS.aws, os).file },
  );
  if (plan.stsEndpoint) env.push({ name: AWS_ENV.stsEndpoint, value: plan.stsEndpoint });
  return env;
}

/** The variables @azure/identity (and the other Azure SDKs) read; never an empty one. */
export function azureEnv(plan: AzurePlan, os: PodOs): V1EnvVar[] {
  const env: V1EnvVar[] = [];
  if (plan.clientId) env.push({ name: AZURE_ENV.clientId, value: plan.clientId });
  if (plan.tenantId) env.push({ name: AZURE_ENV.tenantId, value: plan.tenantId });
  env.push(
    { name: AZURE_ENV.tokenFile, value: tokenPaths(CONVENTIONS.azure, os).file },
    { name: AZURE_ENV.authorityHost, value: plan.authorityHost },
  );
  return env;
}

export function awsInjection(plan: AwsPlan, os: PodOs, settings: MutationSettings): CloudInjection {
  const conventions = CONVENTIONS.aws;
  return {
    conventions,
    volumes: [projectedTokenVolume(conventions, plan, settings.fileMode)],
    mounts: [
      { name: conventions.tokenVolume, mountPath: tokenPaths(conventions, os).dir, readOnly: true },
    ],
    env: awsEnv(plan, os),
    // Either variable of a pair already set: the container keeps its own pair.
    envGroups: [
      [AWS_ENV.roleArn, AWS_ENV.tokenFile],
      [AWS_ENV.region, AWS_ENV.defaultRegion],
    ],
    skipContainers: plan.skipContainers,
    skipLabel: AWS_ANNOTATIONS.skipContainers,
  };
}

export function azureInjection(
  plan: AzurePlan,
  os: PodOs,
  settings: MutationSettings,
): CloudInjection {
  const conventions = CONVENTIONS.azure;
  return {
    conventions,
    volumes: [projectedTokenVolume(conventions, plan, settings.fileMode)],
    mounts: [
      { name: conventions.tokenVolume, mountPath: tokenPaths(conventions, os).dir, readOnly: true },
    ],
    env: azureEnv(plan, os),
    skipContainers: plan.skipContainers,
    skipLabel: AZURE_ANNOTATIONS.skipContainers,
  };
}

/**
 * The variables a container named `name` gets from these injections (what it already sets aside):
 * the rendered environment an SDK can be run with.
 */
export function renderContainerEnv(
  injections: readonly CloudInjection[],
  name: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const injection of injections) {
    if (injection.skipContainers.includes(name)) continue;
    for (const variable of injection.env)
      if (variable.value !== undefined) env[variable.name] = variable.value;
  }
  return env;
}
