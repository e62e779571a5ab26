import {
  GOOGLE_SUBJECT_MAX_BYTES,
  isResourceId,
  parseProvider,
  providerIdFor,
  isServiceAccountEmail,
  RESOURCE_ID_RULE,
  type WorkloadIdentityProvider,
} from '../credentials/credential-config.js';
import { serviceAccountSubjectSchema } from '../registry/record.js';
import { IdbridgeError } from '../errors.js';
import { transportOf } from '../net/loopback.js';
import {
  addPoolIamBindingCommand,
  addWorkloadIdentityUserCommand,
  createOidcProviderCommand,
  createPoolCommand,
  POOL_ADMIN,
  principalMember,
  principalSetMember,
  PROVIDER_UPDATE_PERMISSIONS,
} from './gcloud.js';
import { shellCommand } from './shell.js';
import { byteLength } from '../oidc/jwks.js';
import { DNS_LABEL } from '../registry/cluster-id.js';

/**
 * The Google side of one cluster: its pool, its OIDC provider (issuer = the edge URL) and who may
 * impersonate which service account. Printed as gcloud commands, never run: the operator runs
 * them with their own Google credentials.
 */
export const ATTRIBUTE_MAPPING: Readonly<Record<string, string>> = {
  'google.subject': 'assertion.sub',
  'attribute.namespace': "assertion['kubernetes.io']['namespace']",
  'attribute.service_account_name': "assertion['kubernetes.io']['serviceaccount']['name']",
};
/** Admits ServiceAccount tokens only: the issuer signs nothing else a workload should present. */
export const RECOMMENDED_CONDITION = "assertion.sub.startsWith('system:serviceaccount:')";

export interface GcpSetupInput {
  projectNumber: string;
  pool: string;
  /** Provider id; default: derived from the issuer's last path segment, the cluster id (providerIdFor). */
  provider?: string;
  issuer: string;
  serviceAccount?: string;
  namespace?: string;
  kubeServiceAccount?: string;
  attributeCondition?: string;
  createPool?: boolean;
  /**
   * No public issuer: the provider holds the cluster's keys, uploaded from this JWKS file
   * (`kubectl get --raw /openid/v1/jwks`), and `idbridge sync --target wif-provider://…` keeps them
   * current, so the plan also grants the sync job what it needs on the pool.
   */
  jwkJsonPath?: string;
}

/** The sync job's identity at Google when it runs as infra/k8s/sync's ServiceAccount. */
export const SYNC_SUBJECT = 'system:serviceaccount:idbridge-sync:idbridge-sync';

export interface SetupStep {
  title: string;
  argv: string[];
}

export interface GcpSetupPlan {
  provider: WorkloadIdentityProvider;
  issuer: string;
  /** The audience the projected token must carry: the provider's default allowed audience. */
  audience: string;
  /** Who gets access: principal://… or principalSet://…, when known. */
  member?: string;
  steps: SetupStep[];
  warnings: string[];
  next: string[];
}

function checkId(kind: string, value: string): void {
  if (!isResourceId(value)) {
    throw new IdbridgeError(
      'invalid_request',
      `${kind} id ${JSON.stringify(value.slice(0, 64))} is not valid: Google wants ${RESOURCE_ID_RULE}`,
    );
  }
}

export function gcpSetupPlan(input: GcpSetupInput): GcpSetupPlan {
  if (!/^\d{1,20}$/.test(input.projectNumber)) {
    throw new IdbridgeError(
      'invalid_request',
      `--project-number must be the project NUMBER (gcloud projects describe PROJECT_ID --format='value(projectNumber)'), not ${JSON.stringify(input.projectNumber.slice(0, 64))}`,
    );
  }
  const transport = transportOf(input.issuer);
  if (transport.kind === 'invalid')
    throw new IdbridgeError('invalid_request', `--issuer: ${transport.reason}`);
  const warnings: string[] = [];
  if (transport.kind !== 'https')
    warnings.push(
      `the issuer ${input.issuer} is not HTTPS: Google STS fetches issuers over HTTPS only, so exchanges will fail until the issuer is served at an https:// URL`,
    );
  if (/\/$/.test(input.issuer))
    warnings.push(
      'the issuer ends with "/": it must equal the tokens\' iss byte for byte; idbridge and kube-apiserver issuers have no trailing slash',
    );
  checkId('pool', input.pool);
  const clusterId = new URL(input.issuer).pathname.split('/').filter(Boolean).at(-1) ?? '';
  if (input.provider === undefined && !DNS_LABEL.test(clusterId)) {
    throw new IdbridgeError(
      'invalid_request',
      `cannot name the provider after the issuer's last path segment ${JSON.stringify(clusterId.slice(0, 64))}, which is not a cluster id: pass --provider ID (${RESOURCE_ID_RULE})`,
    );
  }
  const providerId = input.provider ?? providerIdFor(clusterId);
  checkId('provider', providerId);
  const provider = parseProvider(
    `projects/${input.projectNumber}/locations/global/workloadIdentityPools/${input.pool}/providers/${providerId}`,
  );

  const steps: SetupStep[] = [];
  if (input.createPool !== false) {
    steps.push({
      title:
        'The workload identity pool (once; skip this if it exists). Every provider in a pool shares its principals: a pool per trust domain.',
      argv: createPoolCommand(input.projectNumber, input.pool, 'idbridge'),
    });
  }
  const uploaded = input.jwkJsonPath;
  if (uploaded !== undefined && uploaded.trim() === '')
    throw new IdbridgeError(
      'invalid_request',
      "--jwk-json-path must name the cluster's JWKS file (kubectl get --raw /openid/v1/jwks > jwks.json)",
    );
  const where =
    uploaded === undefined
      ? `Google fetches ${input.issuer}/.well-known/openid-configuration`
      : `no public issuer: Google verifies tokens with the keys uploaded from ${uploaded} (kubectl get --raw /openid/v1/jwks > ${uploaded}) and fetches nothing; the issuer URI must still equal the tokens' iss`;
  steps.push({
    title: `The OIDC provider for this cluster: ${where}. google.subject is the token's sub (system:serviceaccount:NAMESPACE:NAME); namespace and ServiceAccount name become attributes for principalSet bindings.`,
    argv: createOidcProviderCommand({
      projectNumber: input.projectNumber,
      pool: input.pool,
      provider: providerId,
      issuerUri: input.issuer,
      attributeMapping: { ...ATTRIBUTE_MAPPING },
      attributeCondition: input.attributeCondition ?? RECOMMENDED_CONDITION,
      ...(uploaded !== undefined ? { jwkJsonPath: uploaded } : {}),
    }),
  });
  if (uploaded !== undefined) {
    const syncMember = principalMember(input.projectNumber, input.pool, SYNC_SUBJECT);
    steps.push({
      title: `Let the sync job (ServiceAccount idbridge-sync/idbridge-sync, as infra/k8s/sync deploys it, authenticating through this provider) keep the uploaded keys current: ${POOL_ADMIN} on the pool, or instead a custom role with ${PROVIDER_UPDATE_PERMISSIONS.join(' and ')}.`,
      argv: addPoolIamBindingCommand(input.projectNumber, input.pool, POOL_ADMIN, syncMember),
    });
  }

  let member: string | undefined;
  if (input.kubeServiceAccount !== undefined && input.namespace === undefined) {
    throw new IdbridgeError(
      'invalid_request',
      '--kube-service-account needs --namespace: a ServiceAccount is named by namespace and name',
    );
  }
  if (input.namespace !== undefined) {
    if (input.kubeServiceAccount !== undefined) {
      const subject = `system:serviceaccount:${input.namespace}:${input.kubeServiceAccount}`;
      if (!serviceAccountSubjectSchema.safeParse(subject).success)
        throw new IdbridgeError(
          'invalid_request',
          `${subject} is not a valid ServiceAccount subject: namespace and name must be DNS names`,
        );
      if (byteLength(subject) > GOOGLE_SUBJECT_MAX_BYTES)
        throw new IdbridgeError(
          'invalid_request',
          `${subject} is longer than the ${GOOGLE_SUBJECT_MAX_BYTES} bytes Google allows for google.subject; use shorter names`,
        );
      member = principalMember(input.projectNumber, input.pool, subject);
    } else {
      if (!DNS_LABEL.test(input.namespace))
        throw new IdbridgeError(
          'invalid_request',
          `namespace ${JSON.stringify(input.namespace.slice(0, 64))} is not a DNS label`,
        );
      member = principalSetMember(input.projectNumber, input.pool, 'namespace', input.namespace);
    }
  }
  if (input.serviceAccount !== undefined) {
    requireServiceAccountEmail(input.serviceAccount);
    if (!member)
      throw new IdbridgeError(
        'invalid_request',
        '--service-account needs --namespace (and --kube-service-account) to say which workloads may impersonate it',
      );
    steps.push({
      title: `Let ${member.startsWith('principalSet') ? `every ServiceAccount in namespace ${input.namespace}` : `the Kubernetes ServiceAccount ${input.namespace}/${input.kubeServiceAccount}`} impersonate ${input.serviceAccount}.`,
      argv: addWorkloadIdentityUserCommand(input.serviceAccount, member),
    });
  }

  const tokenAudience = provider.audience;
  const next = [
    `Projected token audience (the pod's serviceAccountToken volume): ${tokenAudience}`,
    `Credential configuration: idbridge cred-config ${provider.path} --credential-source-file=TOKEN_PATH${input.serviceAccount ? ` --service-account=${input.serviceAccount}` : ''} --output-file=credentials.json`,
    uploaded === undefined
      ? `Check the issuer and a token as Google will: idbridge doctor --issuer=${input.issuer} --provider=${provider.path} --token=TOKEN_FILE`
      : `Keep the keys current through rotations: idbridge sync --target wif-provider://${provider.path} (GOOGLE_APPLICATION_CREDENTIALS: idbridge cred-config ${provider.path} --credential-source-file=TOKEN_PATH for the sync job's token, audience ${provider.audience}); check them with idbridge doctor --wif-provider ${provider.path}`,
    'Inside the pod: idbridge whoami',
  ];
  if (!input.serviceAccount && member) {
    next.unshift(
      `No service account: grant roles to the federated identity directly, e.g. gcloud projects add-iam-policy-binding PROJECT_ID --role=roles/storage.objectViewer --member=${member}`,
    );
  }
  return {
    provider,
    issuer: input.issuer,
    audience: tokenAudience,
    ...(member ? { member } : {}),
    steps,
    warnings,
    next,
  };
}

/** The plan as a shell script: comments say why, commands are copy-pasteable (and runnable as is). */
export function renderPlan(plan: GcpSetupPlan): string {
  const out = [
    `# Google Cloud setup for the issuer ${plan.issuer}`,
    '# Run with gcloud as a principal that may create workload identity pools and set IAM policy.',
    ...plan.warnings.map((warning) => `# WARNING: ${warning}`),
  ];
  plan.steps.forEach((step, i) => {
    out.push('', `# ${i + 1}. ${step.title}`, shellCommand(step.argv, { multiline: true }));
  });
  out.push('', '# Then:', ...plan.next.map((line) => `#   ${line}`));
  return `${out.join('\n')}\n`;
}

/** --service-account must be a Google service account's email: gcp-setup's and --fleet's one check. */
export function requireServiceAccountEmail(email: string): void {
  if (!isServiceAccountEmail(email))
    throw new IdbridgeError(
      'invalid_request',
      `${JSON.stringify(email.slice(0, 254))} is not a Google service account email (NAME@PROJECT.iam.gserviceaccount.com)`,
    );
}
