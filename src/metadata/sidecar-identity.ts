import { readFile } from 'node:fs/promises';
import {
  DEFAULT_UNIVERSE_DOMAIN,
  externalAccountConfigSchema,
  isServiceAccountEmail,
} from '../credentials/credential-config.js';
import { IdbridgeError } from '../errors.js';
import type { InstanceView } from './api.js';
import type { IdentityAnswer, IdentityResolver, PodIdentity } from './identity.js';

/** A projected token is about 1 KiB; a file far larger is not one. */
const MAX_TOKEN_BYTES = 64 * 1024;
const IMPERSONATION_URL =
  /^(https?:\/\/.+?)\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/;

/** Reads files; injected so tests can count reads or fail them. */
export type ReadText = (path: string) => Promise<string>;

export interface SidecarSetup {
  resolver: IdentityResolver & { identity: PodIdentity };
  view: InstanceView;
  /** generateAccessToken lifetime from the configuration, if it sets one. */
  lifetimeSeconds?: number;
  /** Readiness: the token file can be read now (the configuration was loaded at startup). */
  tokenReadable(): Promise<{ ready: true } | { ready: false; reason: string }>;
}

export interface SidecarOptions {
  credentialConfigPath: string;
  projectId?: string;
  numericProjectId?: string;
  serviceAccount?: { namespace: string; name: string };
  attributes: Record<string, string>;
  readText?: ReadText;
}

/**
 * Sidecar mode: the one pod this process runs in, described by the credential configuration
 * the webhook renders (src/credentials/credential-config.ts). The token file is re-read at each
 * exchange, so kubelet's rotation is picked up; there is no trust in source addresses.
 */
export async function loadSidecarIdentity(options: SidecarOptions): Promise<SidecarSetup> {
  const readText = options.readText ?? ((path: string) => readFile(path, 'utf8'));
  const where = `--credential-config ${options.credentialConfigPath}`;
  let raw: string;
  try {
    raw = await readText(options.credentialConfigPath);
  } catch (err) {
    throw new IdbridgeError(
      'invalid_request',
      `cannot read ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new IdbridgeError(
      'invalid_request',
      `${where} is not JSON; it must be the external_account configuration the webhook mounts`,
    );
  }
  const parsed = externalAccountConfigSchema.safeParse(value);
  if (!parsed.success)
    throw new IdbridgeError(
      'invalid_request',
      `${where} is not an external_account configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'the file'}: ${i.message}`).join('; ')}`,
    );
  const config = parsed.data;
  const tokenFile = config.credential_source.file;
  if (tokenFile === undefined)
    throw new IdbridgeError(
      'invalid_request',
      `${where} has no credential_source.file: the metadata server reads the projected ServiceAccount token from a file`,
    );
  const universeDomain = config.universe_domain ?? DEFAULT_UNIVERSE_DOMAIN;

  let googleServiceAccount: string | undefined;
  let iamCredentialsUrl = `https://iamcredentials.${universeDomain}`;
  if (config.service_account_impersonation_url !== undefined) {
    const match = IMPERSONATION_URL.exec(config.service_account_impersonation_url);
    const email = match ? decodeURIComponent(match[2]!) : '';
    if (!match || !isServiceAccountEmail(email)) {
      throw new IdbridgeError(
        'invalid_request',
        `${where}: service_account_impersonation_url must be BASE/v1/projects/-/serviceAccounts/EMAIL:generateAccessToken`,
      );
    }
    googleServiceAccount = email;
    iamCredentialsUrl = match[1]!;
  }

  const subjectToken = async (): Promise<string> => {
    const token = (await readText(tokenFile)).trim();
    if (token === '') throw new Error(`${tokenFile} is empty`);
    if (token.length > MAX_TOKEN_BYTES)
      throw new Error(
        `${tokenFile} is larger than ${MAX_TOKEN_BYTES / 1024} KiB; it is not a projected token`,
      );
    return token;
  };
  const account = options.serviceAccount ?? (await accountFromToken(subjectToken, tokenFile));
  const projectId = options.projectId ?? projectOf(googleServiceAccount);
  if (projectId === undefined) {
    throw new IdbridgeError(
      'invalid_request',
      "the project id is unknown: give --project-id (IDBRIDGE_METADATA_PROJECT_ID); it is read from the Google service account's email only when the configuration impersonates one",
    );
  }
  const numericProjectId =
    options.numericProjectId ?? /\/projects\/(\d+)\//.exec(config.audience)?.[1];

  const identity: PodIdentity = {
    namespace: account.namespace,
    serviceAccount: account.name,
    ...(googleServiceAccount !== undefined ? { googleServiceAccount } : {}),
    audience: config.audience,
    tokenUrl: config.token_url,
    iamCredentialsUrl,
    subjectToken,
    key: `${account.namespace}/${account.name}/${googleServiceAccount ?? ''}/${config.audience}`,
  };
  const answer: IdentityAnswer = { ok: true, identity };
  const lifetime = config.service_account_impersonation?.token_lifetime_seconds;
  return {
    resolver: { identity, resolve: () => answer },
    view: {
      projectId,
      ...(numericProjectId !== undefined ? { numericProjectId } : {}),
      ...(googleServiceAccount !== undefined ? { googleServiceAccount } : {}),
      kubernetesServiceAccount: `${account.namespace}/${account.name}`,
      universeDomain,
      attributes: options.attributes,
    },
    ...(lifetime !== undefined ? { lifetimeSeconds: lifetime } : {}),
    async tokenReadable() {
      try {
        await subjectToken();
        return { ready: true };
      } catch (err) {
        return {
          ready: false,
          reason: `the ServiceAccount token cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
        };
      }
    },
  };
}

/** `name@PROJECT.iam.gserviceaccount.com` → PROJECT. */
function projectOf(email: string | undefined): string | undefined {
  return email === undefined
    ? undefined
    : /@([a-z][-a-z0-9]+)\.iam\.gserviceaccount\.com$/.exec(email)?.[1];
}

/** The ServiceAccount named in the projected token's claims (the pod's own file; not verified here, Google verifies it). */
async function accountFromToken(
  subjectToken: () => Promise<string>,
  tokenFile: string,
): Promise<{ namespace: string; name: string }> {
  let claims: {
    'kubernetes.io'?: { namespace?: unknown; serviceaccount?: { name?: unknown } };
    sub?: unknown;
  };
  try {
    claims = JSON.parse(
      Buffer.from((await subjectToken()).split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as typeof claims;
  } catch (err) {
    throw new IdbridgeError(
      'invalid_request',
      `cannot tell the pod's ServiceAccount from ${tokenFile} (${(err as NodeJS.ErrnoException).code ?? 'not a JWT'}); give --service-account NAMESPACE/NAME`,
    );
  }
  const kube = claims['kubernetes.io'];
  const fromSub =
    typeof claims.sub === 'string'
      ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims.sub)
      : null;
  const namespace = typeof kube?.namespace === 'string' ? kube.namespace : fromSub?.[1];
  const name =
    typeof kube?.serviceaccount?.name === 'string' ? kube.serviceaccount.name : fromSub?.[2];
  if (!namespace || !name)
    throw new IdbridgeError(
      'invalid_request',
      `${tokenFile} does not name a Kubernetes ServiceAccount; give --service-account NAMESPACE/NAME`,
    );
  return { namespace, name };
}
