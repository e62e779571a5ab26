import { isResourceId, parseProvider, RESOURCE_ID_RULE } from '../credentials/credential-config.js';
import { IdbridgeError } from '../errors.js';
import { fleetSubject } from '../fleet/subject.js';
import { FLEET_SEGMENT } from '../fleet/paths.js';
import { transportOf } from '../net/loopback.js';
import { DNS_LABEL } from '../registry/cluster-id.js';
import {
  addWorkloadIdentityUserCommand,
  createOidcProviderCommand,
  createPoolCommand,
  principalMember,
  principalSetMember,
} from './gcloud.js';
import {
  requireServiceAccountEmail,
  type GcpSetupInput,
  type GcpSetupPlan,
  type SetupStep,
} from './plan.js';

/** What `gcp-setup --fleet` maps from the tokens the broker mints (docs/fleet.md). */
export const FLEET_ATTRIBUTE_MAPPING: Readonly<Record<string, string>> = {
  'google.subject': 'assertion.sub',
  'attribute.cluster': 'assertion.cluster',
  'attribute.namespace': 'assertion.namespace',
  'attribute.service_account': 'assertion.service_account',
};
/** Only tokens idbridge minted for a registered cluster's ServiceAccount. */
export const FLEET_CONDITION = 'has(assertion.cluster) && has(assertion.service_account)';
export const DEFAULT_FLEET_PROVIDER_ID = 'idbridge-fleet';

export type FleetSetupInput = GcpSetupInput & { cluster?: string };

/**
 * The Google side of fleet mode, once for every cluster: the pool, the one provider whose issuer
 * is idbridge's fleet issuer (`{PUBLIC_URL}/_fleet`), and grants by cluster, namespace or
 * ServiceAccount. Registering a cluster afterwards needs no Google-side change.
 */
export function fleetSetupPlan(input: FleetSetupInput): GcpSetupPlan {
  if (!/^\d{1,20}$/.test(input.projectNumber))
    throw new IdbridgeError(
      'invalid_request',
      `--project-number must be the project NUMBER (gcloud projects describe PROJECT_ID --format='value(projectNumber)'), not ${JSON.stringify(input.projectNumber.slice(0, 64))}`,
    );
  const transport = transportOf(input.issuer);
  if (transport.kind === 'invalid')
    throw new IdbridgeError('invalid_request', `--issuer: ${transport.reason}`);
  if (new URL(input.issuer).pathname.split('/').at(-1) !== FLEET_SEGMENT)
    throw new IdbridgeError(
      'invalid_request',
      `with --fleet, --issuer is the fleet issuer, {IDBRIDGE_PUBLIC_URL}/${FLEET_SEGMENT} (e.g. https://idbridge.example.com/${FLEET_SEGMENT}), not ${JSON.stringify(input.issuer.slice(0, 200))}`,
    );
  const warnings =
    transport.kind === 'https'
      ? []
      : [
          `the issuer ${input.issuer} is not HTTPS: Google STS fetches issuers over HTTPS only, so exchanges will fail until the fleet issuer is served at an https:// URL`,
        ];
  const providerId = input.provider ?? DEFAULT_FLEET_PROVIDER_ID;
  for (const [kind, id] of [
    ['pool', input.pool],
    ['provider', providerId],
  ] as const)
    if (!isResourceId(id))
      throw new IdbridgeError(
        'invalid_request',
        `${kind} id ${JSON.stringify(id.slice(0, 64))} is not valid: Google wants ${RESOURCE_ID_RULE}`,
      );
  const provider = parseProvider(
    `projects/${input.projectNumber}/locations/global/workloadIdentityPools/${input.pool}/providers/${providerId}`,
  );
  const steps: SetupStep[] = [];
  if (input.createPool !== false)
    steps.push({
      title: 'The workload identity pool (once; skip this if it exists).',
      argv: createPoolCommand(input.projectNumber, input.pool, 'idbridge fleet'),
    });
  steps.push({
    title: `The one fleet provider: Google fetches ${input.issuer}/.well-known/openid-configuration, whose keys sign what idbridge's broker mints for every cluster in fleet mode. google.subject is CLUSTER:NAMESPACE:SERVICEACCOUNT (shortened with a hash past 127 bytes); cluster, namespace and ServiceAccount become attributes for principalSet grants.`,
    argv: createOidcProviderCommand({
      projectNumber: input.projectNumber,
      pool: input.pool,
      provider: providerId,
      issuerUri: input.issuer,
      attributeMapping: { ...FLEET_ATTRIBUTE_MAPPING },
      attributeCondition: input.attributeCondition ?? FLEET_CONDITION,
    }),
  });
  const member = fleetMember(input);
  if (input.serviceAccount !== undefined) {
    requireServiceAccountEmail(input.serviceAccount);
    if (!member)
      throw new IdbridgeError(
        'invalid_request',
        '--service-account needs --cluster (and optionally --namespace, --kube-service-account) or --namespace to say which workloads may impersonate it',
      );
    steps.push({
      title: `Let ${member.what} impersonate ${input.serviceAccount}.`,
      argv: addWorkloadIdentityUserCommand(input.serviceAccount, member.member),
    });
  }
  const next = [
    `Serve the broker with IDBRIDGE_FLEET_PROVIDER=${provider.path} and register clusters with "mode": "fleet": no Google-side change per cluster.`,
    `Projected token audience (the pod's serviceAccountToken volume): ${provider.audience}`,
    `Credential configuration: idbridge cred-config --fleet ${provider.path} --broker-url=BROKER_URL --credential-source-file=TOKEN_PATH${input.serviceAccount ? ` --service-account=${input.serviceAccount}` : ''} --output-file=credentials.json`,
    `Grants by cluster: ${principalSetMember(input.projectNumber, input.pool, 'cluster', 'CLUSTER')}`,
  ];
  return {
    provider,
    issuer: input.issuer,
    audience: provider.audience,
    ...(member ? { member: member.member } : {}),
    steps,
    warnings,
    next,
  };
}

/** Who a fleet grant names: a cluster, a namespace (of every cluster), or one cluster's ServiceAccount. */
function fleetMember(input: FleetSetupInput): { member: string; what: string } | undefined {
  const { cluster, namespace, kubeServiceAccount: name } = input;
  if (cluster !== undefined && !DNS_LABEL.test(cluster))
    throw new IdbridgeError(
      'invalid_request',
      `--cluster ${JSON.stringify(cluster.slice(0, 64))} is not a cluster id (a DNS label)`,
    );
  if (namespace !== undefined && !DNS_LABEL.test(namespace))
    throw new IdbridgeError(
      'invalid_request',
      `--namespace ${JSON.stringify(namespace.slice(0, 64))} is not a DNS label`,
    );
  if (name !== undefined) {
    if (cluster === undefined || namespace === undefined)
      throw new IdbridgeError(
        'invalid_request',
        '--kube-service-account needs --cluster and --namespace in fleet mode: the same ServiceAccount name exists in many clusters',
      );
    return {
      member: principalMember(
        input.projectNumber,
        input.pool,
        fleetSubject(cluster, namespace, name),
      ),
      what: `the ServiceAccount ${namespace}/${name} of cluster ${cluster}`,
    };
  }
  if (cluster !== undefined)
    return {
      member: principalSetMember(input.projectNumber, input.pool, 'cluster', cluster),
      what: `every ServiceAccount of cluster ${cluster}${namespace ? ' (a grant names one attribute: narrow it to a namespace with a ServiceAccount grant or an IAM condition)' : ''}`,
    };
  if (namespace !== undefined)
    return {
      member: principalSetMember(input.projectNumber, input.pool, 'namespace', namespace),
      what: `every ServiceAccount in namespace ${namespace} of every fleet cluster`,
    };
  return undefined;
}
