import {
  externalAccountConfigSchema,
  parseProvider,
  type WorkloadIdentityProvider,
} from '../credentials/credential-config.js';
import { acceptedAudiences } from '../doctor/token-checks.js';
import { federatedPrincipal } from '../gcp-setup/gcloud.js';
import { describeFetchError } from '../net/fetch-error.js';
import { transportOf } from '../net/loopback.js';
import { fail, pass, skip, warn, type Check } from '../report/report.js';
import { explainIamError, explainStsError, type ExplainContext } from './explain.js';
import { describeKubeIdentity, kubeIdentity, type KubeIdentity } from './identity.js';
import { readSubjectToken, type SourceDeps } from './subject-token.js';
import { describeIssue, zodDetails } from '../errors/zod.js';

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const IMPERSONATION_URL = /\/projects\/[^/]+\/serviceAccounts\/([^/:]+):generateAccessToken$/;

export interface WhoamiInput {
  /** Path of the credential configuration (GOOGLE_APPLICATION_CREDENTIALS). */
  credentialsPath?: string;
  scopes?: string[];
}

export interface WhoamiDeps extends SourceDeps {
  /** Monotonic milliseconds, for step timings. */
  clock: () => number;
  /** Wall clock, epoch milliseconds. */
  now: () => number;
}

/** What whoami found out, for the summary block and `--json`. */
export interface WhoamiIdentity {
  credentials?: string;
  kubernetes?: KubeIdentity;
  provider?: string;
  principal?: string;
  googleServiceAccount?: string;
  /** ISO time the final Google access token expires. */
  accessTokenExpiresAt?: string;
}

export interface WhoamiResult {
  checks: Check[];
  identity: WhoamiIdentity;
}

interface HttpAnswer {
  status: number;
  body: unknown;
  ms: number;
}

function inMinutes(seconds: number): string {
  return seconds < 120 ? `${Math.round(seconds)} s` : `${Math.round(seconds / 60)} min`;
}

/**
 * "Which Google identity do I get, and why not?" — every step a Google client library takes with
 * this pod's credential configuration, one check each, each Google refusal explained.
 */
export async function whoami(input: WhoamiInput, deps: WhoamiDeps): Promise<WhoamiResult> {
  const checks: Check[] = [];
  const identity: WhoamiIdentity = {};
  const notRun = (...ids: string[]) =>
    checks.push(...ids.map((id) => skip(id, 'not run: an earlier step failed')));

  // 1. The credential configuration.
  if (!input.credentialsPath) {
    checks.push(
      fail(
        'config',
        'GOOGLE_APPLICATION_CREDENTIALS is not set',
        'in a pod, annotate its ServiceAccount so the idbridge webhook mounts a configuration and sets the variable; elsewhere pass --credentials FILE (make one with idbridge cred-config)',
      ),
    );
    notRun('token', 'exchange', 'impersonate');
    return { checks, identity };
  }
  identity.credentials = input.credentialsPath;
  let raw: unknown;
  try {
    raw = JSON.parse(await deps.readFile(input.credentialsPath));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    checks.push(
      fail(
        'config',
        code
          ? `cannot read ${input.credentialsPath}: ${code}`
          : `${input.credentialsPath} is not JSON`,
        'point GOOGLE_APPLICATION_CREDENTIALS at the external_account configuration (idbridge cred-config writes one)',
      ),
    );
    notRun('token', 'exchange', 'impersonate');
    return { checks, identity };
  }
  const parsed = externalAccountConfigSchema.safeParse(raw);
  if (!parsed.success) {
    checks.push(
      fail(
        'config',
        `${input.credentialsPath} is not a usable external_account configuration`,
        'regenerate it with idbridge cred-config PROVIDER --credential-source-file=TOKEN_PATH',
        {
          details: zodDetails(parsed.error, { root: '(root)' }).map((detail) =>
            describeIssue(detail),
          ),
        },
      ),
    );
    notRun('token', 'exchange', 'impersonate');
    return { checks, identity };
  }
  const config = parsed.data;
  let provider: WorkloadIdentityProvider | undefined;
  try {
    provider = parseProvider(config.audience);
    identity.provider = provider.path;
  } catch {
    provider = undefined;
  }
  const googleServiceAccount = config.service_account_impersonation_url
    ? decodeURIComponent(
        IMPERSONATION_URL.exec(new URL(config.service_account_impersonation_url).pathname)?.[1] ??
          '',
      ) || undefined
    : undefined;
  if (googleServiceAccount) identity.googleServiceAccount = googleServiceAccount;
  const mode = config.service_account_impersonation_url
    ? `impersonates ${googleServiceAccount ?? config.service_account_impersonation_url}`
    : 'direct access as the federated principal (no service account)';
  const configSummary = `${input.credentialsPath}: provider ${provider?.path ?? config.audience}, ${mode}, token_url ${config.token_url}`;
  const plain = [config.token_url, config.service_account_impersonation_url].filter(
    (url): url is string => !!url && transportOf(url).kind === 'plain-http',
  );
  if (!provider) {
    checks.push(
      warn(
        'config',
        configSummary,
        `the audience is not a workload identity provider name (//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER); regenerate with idbridge cred-config`,
      ),
    );
  } else if (plain.length > 0) {
    checks.push(
      warn(
        'config',
        configSummary,
        `${plain.join(' and ')} ${plain.length > 1 ? 'are' : 'is'} plain HTTP outside loopback: the subject and access tokens cross the network in clear; serve the broker over HTTPS`,
      ),
    );
  } else {
    checks.push(pass('config', configSummary));
  }

  // 2. The Kubernetes token.
  let token: string;
  try {
    ({ token } = await readSubjectToken(config.credential_source, deps));
  } catch (err) {
    checks.push(
      fail(
        'token',
        (err as Error).message,
        'mount the projected ServiceAccount token where credential_source points, or regenerate the configuration with the right --credential-source-file',
      ),
    );
    notRun('exchange', 'impersonate');
    return { checks, identity };
  }
  const kube = kubeIdentity(token);
  if (!kube) {
    checks.push(
      fail(
        'token',
        'the subject token is not a JWT',
        'credential_source must point at the projected ServiceAccount token file itself',
      ),
    );
    notRun('exchange', 'impersonate');
    return { checks, identity };
  }
  identity.kubernetes = kube;
  const nowSeconds = deps.now() / 1000;
  const expiry =
    kube.expiresAt !== undefined
      ? kube.expiresAt > nowSeconds
        ? `expires in ${inMinutes(kube.expiresAt - nowSeconds)}`
        : `EXPIRED ${inMinutes(nowSeconds - kube.expiresAt)} ago`
      : 'no expiry';
  const tokenSummary = `${describeKubeIdentity(kube)}, issuer ${kube.issuer ?? '(none)'}, ${expiry}`;
  const accepted = provider ? acceptedAudiences(provider) : [];
  if (kube.expiresAt !== undefined && kube.expiresAt <= nowSeconds) {
    checks.push(
      fail(
        'token',
        tokenSummary,
        'kubelet refreshes the projected token file before expiry: this file is a stale copy or the volume is not a projected serviceAccountToken',
      ),
    );
  } else if (provider && !kube.audiences.some((aud) => accepted.includes(aud))) {
    checks.push(
      warn(
        'token',
        tokenSummary,
        `the token's audience ${JSON.stringify(kube.audiences)} is not the provider's default (${accepted[0]}): Google refuses it unless the provider lists it in --allowed-audiences`,
      ),
    );
  } else {
    checks.push(pass('token', tokenSummary));
  }

  const context: ExplainContext = {
    audience: config.audience,
    tokenUrl: config.token_url,
    audiences: kube.audiences,
    ...(provider ? { provider } : {}),
    ...(kube.issuer ? { issuer: kube.issuer } : {}),
    ...(kube.subject ? { subject: kube.subject } : {}),
    ...(kube.namespace ? { namespace: kube.namespace } : {}),
    ...(kube.serviceAccount ? { serviceAccountName: kube.serviceAccount } : {}),
    ...(googleServiceAccount ? { googleServiceAccount } : {}),
    ...(typeof config.credential_source.file === 'string'
      ? { tokenFile: config.credential_source.file }
      : {}),
  };

  // 3. The exchange at token_url (Google STS or the broker).
  const scopes = input.scopes?.length ? input.scopes : [CLOUD_PLATFORM_SCOPE];
  const exchange = await post(
    config.token_url,
    {
      form: {
        grant_type: TOKEN_EXCHANGE_GRANT,
        audience: config.audience,
        // With impersonation the federated token only needs to call IAM Credentials.
        scope: config.service_account_impersonation_url ? CLOUD_PLATFORM_SCOPE : scopes.join(' '),
        requested_token_type: ACCESS_TOKEN_TYPE,
        subject_token: token,
        subject_token_type: config.subject_token_type,
      },
    },
    deps,
  );
  if ('error' in exchange) {
    checks.push(
      fail(
        'exchange',
        `cannot reach token_url ${config.token_url}: ${exchange.error}`,
        unreachableFix(
          exchange,
          'token_url',
          'a cluster that cannot reach Google exchanges through the idbridge broker: idbridge cred-config … --broker https://BROKER',
        ),
        { ms: exchange.ms },
      ),
    );
    notRun('impersonate');
    return { checks, identity };
  }
  const federated = exchange.body as { access_token?: unknown; expires_in?: unknown } | null;
  if (exchange.status !== 200 || typeof federated?.access_token !== 'string') {
    const explained =
      exchange.status === 200
        ? {
            summary: `${config.token_url} answered 200 without an access_token`,
            fix: 'token_url does not point at Google STS or an idbridge broker',
          }
        : explainStsError(exchange.status, exchange.body, context);
    checks.push(
      fail('exchange', explained.summary, explained.fix, {
        ms: exchange.ms,
        ...('details' in explained && explained.details ? { details: explained.details } : {}),
      }),
    );
    notRun('impersonate');
    return { checks, identity };
  }
  const principal =
    provider && kube.subject ? federatedPrincipal(provider, kube.subject) : undefined;
  if (principal) identity.principal = principal;
  const federatedExpiry =
    typeof federated.expires_in === 'number'
      ? `, expires in ${inMinutes(federated.expires_in)}`
      : '';
  checks.push(
    pass('exchange', `federated token${principal ? ` for ${principal}` : ''}${federatedExpiry}`, {
      ms: exchange.ms,
      ...(principal
        ? { details: ['(the principal assumes the provider maps google.subject=assertion.sub)'] }
        : {}),
    }),
  );

  // 4. Impersonation, or the federated token is the identity.
  if (!config.service_account_impersonation_url) {
    if (typeof federated.expires_in === 'number')
      identity.accessTokenExpiresAt = new Date(
        deps.now() + federated.expires_in * 1000,
      ).toISOString();
    checks.push(
      skip(
        'impersonate',
        'no service account: Google APIs see the federated principal directly; grant it roles on resources with --member=' +
          (principal ?? 'principal://…'),
      ),
    );
    return { checks, identity };
  }
  const lifetime = config.service_account_impersonation?.token_lifetime_seconds ?? 3600;
  const impersonation = await post(
    config.service_account_impersonation_url,
    {
      json: { scope: scopes, lifetime: `${lifetime}s` },
      bearer: federated.access_token,
    },
    deps,
  );
  if ('error' in impersonation) {
    checks.push(
      fail(
        'impersonate',
        `cannot reach ${config.service_account_impersonation_url}: ${impersonation.error}`,
        unreachableFix(
          impersonation,
          'service_account_impersonation_url',
          'a cluster that cannot reach Google impersonates through the idbridge broker: idbridge cred-config … --broker https://BROKER',
        ),
        { ms: impersonation.ms },
      ),
    );
    return { checks, identity };
  }
  const answer = impersonation.body as { accessToken?: unknown; expireTime?: unknown } | null;
  if (impersonation.status !== 200 || typeof answer?.accessToken !== 'string') {
    const explained = explainIamError(impersonation.status, impersonation.body, {
      ...context,
      ...(principal ? { principal } : {}),
      url: config.service_account_impersonation_url,
    });
    checks.push(
      fail('impersonate', explained.summary, explained.fix, {
        ms: impersonation.ms,
        ...(explained.details ? { details: explained.details } : {}),
      }),
    );
    return { checks, identity };
  }
  const expireTime = typeof answer.expireTime === 'string' ? answer.expireTime : undefined;
  if (expireTime) identity.accessTokenExpiresAt = expireTime;
  const left = expireTime ? (Date.parse(expireTime) - deps.now()) / 1000 : undefined;
  checks.push(
    pass(
      'impersonate',
      `Google service account ${googleServiceAccount ?? '(unknown)'}${expireTime ? `, access token expires ${expireTime}${left !== undefined ? ` (in ${inMinutes(left)})` : ''}` : ''}`,
      { ms: impersonation.ms },
    ),
  );
  return { checks, identity };
}

/** One POST, timed; the body parsed as JSON when it is. Tokens are sent, never kept or shown. */
/** A name that does not resolve is a wrong URL or broken cluster DNS: retrying will not help. */
function unreachableFix(failure: { code?: string }, field: string, otherwise: string): string {
  if (failure.code === 'ENOTFOUND')
    return `the host name in ${field} does not exist in DNS (not a transient failure): check the URL in the credential configuration (regenerate it with idbridge cred-config) and the pod's DNS; ${otherwise}`;
  return otherwise;
}

async function post(
  url: string,
  request: { form?: Record<string, string>; json?: unknown; bearer?: string },
  deps: WhoamiDeps,
): Promise<HttpAnswer | { error: string; code?: string; ms: number }> {
  const started = deps.clock();
  try {
    const res = await deps.fetch(url, {
      method: 'POST',
      headers: {
        accept: 'application/json',
        'content-type': request.form ? 'application/x-www-form-urlencoded' : 'application/json',
        ...(request.bearer ? { authorization: `Bearer ${request.bearer}` } : {}),
      },
      body: request.form
        ? new URLSearchParams(request.form).toString()
        : JSON.stringify(request.json),
      signal: AbortSignal.timeout(deps.timeoutMs),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // kept as text: explained as a non-Google answer
    }
    return { status: res.status, body, ms: Math.round(deps.clock() - started) };
  } catch (err) {
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    return {
      error: describeFetchError(err, deps.timeoutMs),
      ...(typeof code === 'string' ? { code } : {}),
      ms: Math.round(deps.clock() - started),
    };
  }
}
