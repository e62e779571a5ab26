import { IdbridgeError } from '../errors.js';
import { shellCommand } from '../gcp-setup/shell.js';
import { isNamespaceName, isServiceAccountName } from '../webhook/kube-names.js';
import { AWS_ANNOTATIONS, AZURE_ANNOTATIONS, CONVENTIONS } from '../webhook/conventions.js';

/**
 * `idbridge setup aws` and `setup azure`: what makes AWS IAM (an OIDC identity provider and a role
 * trust policy, the IRSA model) and Entra ID (a federated identity credential) trust one
 * ServiceAccount of a cluster whose issuer idbridge publishes. Printed, never run: the operator
 * runs the commands with their own cloud credentials. Shell quoting is the one of `setup gcp`.
 */

export interface SetupStep {
  title: string;
  argv?: string[];
  /** A file the next command reads (the trust policy), written with a quoted heredoc. */
  file?: { name: string; content: string };
}

export interface CloudSetupPlan {
  cloud: 'aws' | 'azure';
  issuer: string;
  subject: string;
  audience: string;
  steps: SetupStep[];
  next: string[];
}

export interface WorkloadInput {
  issuer: string;
  namespace: string;
  serviceAccount: string;
  audience?: string;
}

export interface AwsSetupInput extends WorkloadInput {
  accountId: string;
  roleName?: string;
  partition?: string;
}

export interface AzureSetupInput extends WorkloadInput {
  identityName: string;
  resourceGroup: string;
  name?: string;
}

const bad = (message: string) => new IdbridgeError('invalid_request', message);
const show = (value: string) => JSON.stringify(value.slice(0, 80));

/** AWS IAM and Entra ID both fetch the issuer over HTTPS and compare it to iss exactly. */
function checkWorkload(input: WorkloadInput, cloud: string): { issuer: URL; subject: string } {
  let issuer: URL;
  try {
    issuer = new URL(input.issuer);
  } catch {
    throw bad(
      `--issuer ${show(input.issuer)} is not an absolute URL; give the cluster's issuer, e.g. https://issuer.example.com/c1`,
    );
  }
  if (issuer.protocol !== 'https:')
    throw bad(
      `--issuer must be https:// (${cloud} fetches the issuer's discovery document over HTTPS only), not ${show(input.issuer)}`,
    );
  if (issuer.search || issuer.hash || issuer.username || issuer.password)
    throw bad(
      '--issuer must be a plain https URL with an optional path: no query, fragment or credentials',
    );
  if (input.issuer.endsWith('/'))
    throw bad(
      `--issuer ends with "/": it must equal the tokens' iss byte for byte, and idbridge and kube-apiserver issuers have none; drop it`,
    );
  if (!isNamespaceName(input.namespace))
    throw bad(
      `--namespace ${show(input.namespace)} is not a Kubernetes namespace name (a lowercase DNS label)`,
    );
  if (!isServiceAccountName(input.serviceAccount))
    throw bad(
      `--service-account ${show(input.serviceAccount)} is not a Kubernetes ServiceAccount name (a lowercase DNS subdomain)`,
    );
  if (input.audience !== undefined && !/^[\x21-\x7e]{1,256}$/.test(input.audience))
    throw bad('--audience must be 1-256 printable characters without spaces');
  return { issuer, subject: `system:serviceaccount:${input.namespace}:${input.serviceAccount}` };
}

/** The IAM key prefix of an OIDC provider: the issuer without https:// (host and path). */
export function issuerHostAndPath(issuer: string): string {
  return issuer.replace(/^https:\/\//, '');
}

/** The role trust policy: only this ServiceAccount's tokens, with this audience, from this issuer. */
export function awsTrustPolicy(options: {
  providerArn: string;
  issuer: string;
  subject: string;
  audience: string;
}): object {
  const key = issuerHostAndPath(options.issuer);
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Effect: 'Allow',
        Principal: { Federated: options.providerArn },
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: { [`${key}:sub`]: options.subject, [`${key}:aud`]: options.audience },
        },
      },
    ],
  };
}

export function awsSetupPlan(input: AwsSetupInput): CloudSetupPlan {
  const { subject } = checkWorkload(input, 'AWS IAM');
  if (!/^\d{12}$/.test(input.accountId))
    throw bad(
      `--account-id must be the 12-digit AWS account id (aws sts get-caller-identity --query Account --output text), not ${show(input.accountId)}`,
    );
  const partition = input.partition ?? 'aws';
  if (!/^aws[a-z-]{0,20}$/.test(partition))
    throw bad('--partition must be an AWS partition: aws, aws-cn or aws-us-gov');
  const roleName =
    input.roleName ?? `idbridge-${input.namespace}-${input.serviceAccount}`.slice(0, 64);
  if (!/^[\w+=,.@-]{1,64}$/.test(roleName))
    throw bad(
      `--role-name ${show(roleName)} is not an IAM role name (1-64 of letters, digits and +=,.@_-)`,
    );
  const audience = input.audience ?? CONVENTIONS.aws.defaultAudience;
  const providerArn = `arn:${partition}:iam::${input.accountId}:oidc-provider/${issuerHostAndPath(input.issuer)}`;
  const roleArn = `arn:${partition}:iam::${input.accountId}:role/${roleName}`;
  const policy = awsTrustPolicy({ providerArn, issuer: input.issuer, subject, audience });
  return {
    cloud: 'aws',
    issuer: input.issuer,
    subject,
    audience,
    steps: [
      {
        title: `Trust the issuer (once per cluster): IAM fetches ${input.issuer}/.well-known/openid-configuration and its JWKS; ${audience} is the audience tokens carry.`,
        argv: [
          'aws',
          'iam',
          'create-open-id-connect-provider',
          `--url=${input.issuer}`,
          `--client-id-list=${audience}`,
        ],
      },
      {
        title: `The role's trust policy: only ${subject}, with aud ${audience}.`,
        file: { name: 'trust-policy.json', content: JSON.stringify(policy, null, 2) },
      },
      {
        title: 'The role (then attach the permissions it needs: aws iam attach-role-policy …).',
        argv: [
          'aws',
          'iam',
          'create-role',
          `--role-name=${roleName}`,
          '--assume-role-policy-document=file://trust-policy.json',
        ],
      },
      {
        title:
          'Point the ServiceAccount at the role: the webhook gives its pods the token and the AWS variables.',
        argv: [
          'kubectl',
          'annotate',
          'serviceaccount',
          '-n',
          input.namespace,
          input.serviceAccount,
          `${AWS_ANNOTATIONS.roleArn}=${roleArn}`,
        ],
      },
    ],
    next: [
      `check the issuer and a token as STS will: idbridge doctor --cloud aws --issuer ${input.issuer} --token TOKEN_FILE`,
      "clusters without a route to AWS: name a broker (idbridge.dev/token-url or the webhook's --token-url); pods then get AWS_ENDPOINT_URL_STS",
    ],
  };
}

export function azureSetupPlan(input: AzureSetupInput): CloudSetupPlan {
  const { subject } = checkWorkload(input, 'Entra ID');
  const name = input.name ?? `idbridge-${input.namespace}-${input.serviceAccount}`.slice(0, 120);
  if (!/^[A-Za-z0-9][\w-]{2,119}$/.test(name))
    throw bad(
      `--name ${show(name)} is not a federated credential name (3-120 letters, digits, "-" and "_", starting with a letter or digit)`,
    );
  for (const [flag, value] of [
    ['--identity-name', input.identityName],
    ['--resource-group', input.resourceGroup],
  ] as const)
    if (!/^[\w().-]{1,128}$/.test(value))
      throw bad(`${flag} ${show(value)} is not an Azure resource name`);
  const audience = input.audience ?? CONVENTIONS.azure.defaultAudience;
  const clientId = shellCommand([
    'az',
    'identity',
    'show',
    `--name=${input.identityName}`,
    `--resource-group=${input.resourceGroup}`,
    '--query=clientId',
    '--output=tsv',
  ]);
  return {
    cloud: 'azure',
    issuer: input.issuer,
    subject,
    audience,
    steps: [
      {
        title: `Trust ${subject} from this issuer on the managed identity: Entra ID compares the token's iss, sub and aud with these strings exactly.`,
        argv: [
          'az',
          'identity',
          'federated-credential',
          'create',
          `--name=${name}`,
          `--identity-name=${input.identityName}`,
          `--resource-group=${input.resourceGroup}`,
          `--issuer=${input.issuer}`,
          `--subject=${subject}`,
          `--audience=${audience}`,
        ],
      },
      {
        title: 'Name the identity on the ServiceAccount (its client id), for the webhook.',
        argv: [
          'kubectl',
          'annotate',
          'serviceaccount',
          '-n',
          input.namespace,
          input.serviceAccount,
          `${AZURE_ANNOTATIONS.clientId}=CLIENT_ID`,
        ],
      },
    ],
    next: [
      `CLIENT_ID is: ${clientId}`,
      `label the pod template ${AZURE_ANNOTATIONS.useLabel}: "true" (azure-workload-identity's opt-in)`,
      `check the issuer and a token as Entra ID will: idbridge doctor --cloud azure --issuer ${input.issuer} --token TOKEN_FILE`,
    ],
  };
}

/** The plan as a shell script: comments say why, commands are copy-pasteable. */
export function renderCloudPlan(plan: CloudSetupPlan): string {
  const out = [
    `# ${plan.cloud === 'aws' ? 'AWS' : 'Azure'} setup for ${plan.subject} of the issuer ${plan.issuer}`,
    `# Run with ${plan.cloud === 'aws' ? 'the aws CLI' : 'the az CLI'} as a principal that may create ${plan.cloud === 'aws' ? 'IAM OIDC providers and roles' : 'federated identity credentials'}, and kubectl.`,
  ];
  plan.steps.forEach((step, i) => {
    out.push('', `# ${i + 1}. ${step.title}`);
    if (step.file) out.push(`cat > ${step.file.name} <<'JSON'`, step.file.content, 'JSON');
    if (step.argv) out.push(shellCommand(step.argv, { multiline: true }));
  });
  out.push('', '# Then:', ...plan.next.map((line) => `#   ${line}`));
  return `${out.join('\n')}\n`;
}
