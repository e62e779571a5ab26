import { z } from 'zod';
import { environmentProblems, parseEnvironment } from '../config/config.js';
import { parseProvider } from '../credentials/credential-config.js';
import { IdbridgeError, isIdbridgeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { InstanceView } from './api.js';
import type { PodIdentity } from './identity.js';
import type { RunningNodeIdentity } from './node-identity.js';

/**
 * `idbridge metadata-server --mode node` settings (the DaemonSet, issue #13 item 4), parsed once
 * with zod; each variable has a flag of the same meaning (NODE_FLAGS, for the CLI to register).
 */
export const nodeEnvironmentSchema = z.object({
  IDBRIDGE_METADATA_NODE_NAME: z
    .string({ error: 'is required in node mode: set it from the downward API (spec.nodeName)' })
    .regex(/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/, 'must be a Kubernetes node name'),
  IDBRIDGE_METADATA_AUDIENCE: z.string({
    error:
      'is required in node mode: the provider, //iam.googleapis.com/projects/NUM/locations/global/workloadIdentityPools/POOL/providers/PROV',
  }),
  IDBRIDGE_METADATA_TOKEN_URL: z
    .url({
      protocol: /^https?$/,
      error: 'must be an http(s) URL such as https://sts.googleapis.com/v1/token',
    })
    .default('https://sts.googleapis.com/v1/token'),
  IDBRIDGE_METADATA_IAM_CREDENTIALS_URL: z
    .url({
      protocol: /^https?$/,
      error: 'must be an http(s) URL such as https://iamcredentials.googleapis.com',
    })
    .default('https://iamcredentials.googleapis.com'),
  IDBRIDGE_METADATA_KUBECONFIG: z.string().optional(),
  IDBRIDGE_METADATA_TOKEN_EXPIRATION: z.coerce.number().int().min(600).max(86_400).default(3600),
});

export type NodeEnvironment = z.input<typeof nodeEnvironmentSchema>;

export const NODE_FLAGS: Array<[flag: string, variable: keyof NodeEnvironment, help: string]> = [
  [
    '--node-name <name>',
    'IDBRIDGE_METADATA_NODE_NAME',
    'node mode: this node (downward API spec.nodeName); only its pods are answered',
  ],
  [
    '--audience <provider>',
    'IDBRIDGE_METADATA_AUDIENCE',
    'node mode: the workload identity provider, the audience of the TokenRequest tokens',
  ],
  [
    '--token-url <url>',
    'IDBRIDGE_METADATA_TOKEN_URL',
    'node mode: STS or the broker (default https://sts.googleapis.com/v1/token)',
  ],
  [
    '--iam-credentials-url <url>',
    'IDBRIDGE_METADATA_IAM_CREDENTIALS_URL',
    'node mode: IAM Credentials or the broker (default https://iamcredentials.googleapis.com)',
  ],
  [
    '--kubeconfig <path>',
    'IDBRIDGE_METADATA_KUBECONFIG',
    'node mode: kubeconfig file (default: in-cluster configuration)',
  ],
  [
    '--token-expiration <seconds>',
    'IDBRIDGE_METADATA_TOKEN_EXPIRATION',
    'node mode: TokenRequest lifetime (default 3600)',
  ],
];

export interface NodeModeConfig {
  nodeName: string;
  /** Always the //iam.googleapis.com/… form, whichever the operator wrote. */
  audience: string;
  tokenUrl: string;
  iamCredentialsUrl: string;
  kubeconfig?: string;
  tokenExpirationSeconds: number;
}

export function loadNodeModeConfig(
  env: Record<string, string | undefined>,
  overrides: Partial<Record<keyof NodeEnvironment, string>> = {},
): NodeModeConfig {
  const parsed = parseEnvironment(nodeEnvironmentSchema, env, overrides);
  const problems = parsed.success ? [] : environmentProblems(parsed.error);
  let audience: string | undefined;
  if (parsed.data) {
    try {
      audience = parseProvider(parsed.data.IDBRIDGE_METADATA_AUDIENCE).audience;
    } catch (err) {
      if (!isIdbridgeError(err)) throw err;
      problems.push(`IDBRIDGE_METADATA_AUDIENCE: ${err.message}`);
    }
  }
  if (problems.length > 0 || !parsed.data || !audience)
    throw new IdbridgeError(
      'invalid_request',
      `invalid metadata server (node mode) configuration: ${problems.join('; ')}`,
    );
  const e = parsed.data;
  return {
    nodeName: e.IDBRIDGE_METADATA_NODE_NAME,
    audience,
    tokenUrl: e.IDBRIDGE_METADATA_TOKEN_URL,
    iamCredentialsUrl: e.IDBRIDGE_METADATA_IAM_CREDENTIALS_URL.replace(/\/+$/, ''),
    ...(e.IDBRIDGE_METADATA_KUBECONFIG ? { kubeconfig: e.IDBRIDGE_METADATA_KUBECONFIG } : {}),
    tokenExpirationSeconds: e.IDBRIDGE_METADATA_TOKEN_EXPIRATION,
  };
}

/** The node-mode composition for the `metadata-server` command: an IdentityResolver on live informers, handed to the metadata API server. */
export async function startNodeMode(
  config: NodeModeConfig,
  logger: Logger,
): Promise<RunningNodeIdentity> {
  // Loaded only in node mode: the sidecar (a per-pod price) never loads the Kubernetes client.
  const [{ KubeConfig }, { startNodeIdentity }] = await Promise.all([
    import('@kubernetes/client-node'),
    import('./node-identity.js'),
  ]);
  const kubeConfig = new KubeConfig();
  if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
  else kubeConfig.loadFromCluster();
  return startNodeIdentity({ ...config, kubeConfig, logger });
}

/** What the API shows a pod in node mode: the cluster's project (as on GKE), the pod's own accounts. */
export function nodeInstanceView(
  identity: PodIdentity,
  cluster: {
    projectId: string;
    numericProjectId?: string;
    universeDomain: string;
    attributes: Record<string, string>;
  },
): InstanceView {
  const numericProjectId =
    cluster.numericProjectId ?? /\/projects\/(\d+)\//.exec(identity.audience)?.[1];
  return {
    projectId: cluster.projectId,
    ...(numericProjectId !== undefined ? { numericProjectId } : {}),
    ...(identity.googleServiceAccount !== undefined
      ? { googleServiceAccount: identity.googleServiceAccount }
      : {}),
    kubernetesServiceAccount: `${identity.namespace}/${identity.serviceAccount}`,
    universeDomain: cluster.universeDomain,
    attributes: cluster.attributes,
  };
}

/** Views kept by viewPerIdentity: a node runs at most a few hundred pods. */
const VIEWS_KEPT = 1_024;

/**
 * One view per identity key (namespace/ServiceAccount/Google account/audience: all a view
 * reads), so each pod's API tree and decisions are made once (src/metadata/api.ts), not once per
 * request. When full, the memo starts again.
 */
export function viewPerIdentity(
  make: (identity: PodIdentity) => InstanceView,
  kept = VIEWS_KEPT,
): (identity: PodIdentity) => InstanceView {
  const views = new Map<string, InstanceView>();
  return (identity) => {
    let view = views.get(identity.key);
    if (!view) {
      if (views.size >= kept) views.clear();
      view = make(identity);
      views.set(identity.key, view);
    }
    return view;
  };
}
