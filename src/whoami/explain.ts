import type { WorkloadIdentityProvider } from '../credentials/credential-config.js';
import {
  addWorkloadIdentityUserCommand,
  describeProviderCommand,
  federatedPrincipal,
  updateProviderIssuerCommand,
  WORKLOAD_IDENTITY_USER,
} from '../gcp-setup/gcloud.js';
import { shellCommand } from '../gcp-setup/shell.js';

/** What is known when a Google error comes back: enough to name the exact fix. */
export interface ExplainContext {
  /** The STS audience from the credential configuration. */
  audience: string;
  provider?: WorkloadIdentityProvider;
  tokenUrl: string;
  /** The subject token's iss and sub (unverified: for messages only). */
  issuer?: string;
  subject?: string;
  namespace?: string;
  serviceAccountName?: string;
  audiences?: string[];
  /** The Google service account being impersonated. */
  googleServiceAccount?: string;
  /** Path of the token file, for the doctor command line. */
  tokenFile?: string;
}

export interface Explanation {
  summary: string;
  fix: string;
  details?: string[];
}

const MAX_QUOTED = 400;

/** Google's own endpoints live under googleapis.com; anything else in the configuration is an idbridge broker. */
function isGoogle(url: string): boolean {
  return URL.canParse(url) && /(^|\.)googleapis\.com$/.test(new URL(url).hostname);
}

function origin(url: string): string {
  return URL.canParse(url) ? new URL(url).origin : url;
}

function quoted(text: unknown): string {
  const value = typeof text === 'string' ? text : (JSON.stringify(text) ?? '');
  return value.length > MAX_QUOTED ? `${value.slice(0, MAX_QUOTED)}…` : value;
}

function doctorLine(ctx: ExplainContext): string {
  const args = ['idbridge', 'doctor', `--issuer=${ctx.issuer ?? 'ISSUER'}`];
  if (ctx.tokenFile) args.push(`--token=${ctx.tokenFile}`);
  if (ctx.provider) args.push(`--provider=${ctx.provider.path}`);
  return shellCommand(args);
}

/** Google STS errors ({"error","error_description"}) in the operator's terms, with the fix. */
export function explainStsError(status: number, body: unknown, ctx: ExplainContext): Explanation {
  const parsed = (body ?? {}) as { error?: unknown; error_description?: unknown };
  const error = typeof parsed.error === 'string' ? parsed.error : undefined;
  const description = typeof parsed.error_description === 'string' ? parsed.error_description : '';
  // The broker answers its own refusals with these OAuth codes; Google's STS uses its own.
  const brokers =
    !isGoogle(ctx.tokenUrl) && (error === 'temporarily_unavailable' || error === 'server_error');
  const said = [
    `${brokers ? `the broker (${origin(ctx.tokenUrl)})` : 'Google'} said: ${status} ${error ?? '(no error code)'}${description ? ` — ${quoted(description)}` : ''}`,
  ];
  const provider = ctx.provider;

  switch (error) {
    case 'invalid_target':
      return {
        summary: `invalid_target: the workload identity pool or provider ${provider?.path ?? ctx.audience} does not exist, is disabled or deleted, or the project number is wrong`,
        fix: `check that it exists and is ENABLED: ${provider ? shellCommand(describeProviderCommand(provider)) : 'gcloud iam workload-identity-pools providers describe PROVIDER'}; the audience must name the project by NUMBER (gcloud projects describe PROJECT_ID --format='value(projectNumber)'); a deleted provider cannot be reused for 30 days — undelete it or create a new id, then regenerate the configuration with idbridge cred-config`,
        details: said,
      };
    case 'unauthorized_client':
      return {
        summary: `unauthorized_client: the provider's attribute condition rejects this token (sub ${ctx.subject ?? '?'}${ctx.namespace ? `, namespace ${ctx.namespace}` : ''}${ctx.serviceAccountName ? `, ServiceAccount ${ctx.serviceAccountName}` : ''})`,
        fix: `read the condition: ${provider ? shellCommand(describeProviderCommand(provider, 'value(attributeCondition)')) : 'gcloud iam workload-identity-pools providers describe PROVIDER --format=value(attributeCondition)'} — then run the workload under a ServiceAccount it allows, or widen it with gcloud iam workload-identity-pools providers update-oidc … --attribute-condition=…`,
        details: said,
      };
    case 'invalid_grant':
      return { ...explainInvalidGrant(description, ctx), details: said };
    case 'invalid_request':
      return {
        summary: `invalid_request: Google STS refused the request itself${description ? ` (${quoted(description)})` : ''}`,
        fix: 'the credential configuration is malformed (audience, subject_token_type or token_url): regenerate it with idbridge cred-config PROVIDER --credential-source-file=TOKEN_PATH',
        details: said,
      };
    default:
      if ((status >= 500 || status === 429) && brokers) {
        return {
          summary: `the idbridge broker at ${origin(ctx.tokenUrl)} answered HTTP ${status}`,
          fix: "the broker itself could not answer now (its rate limit, its store, or Google behind it): retry; if it persists, read the broker's log",
          details: said,
        };
      }
      if (status >= 500 || status === 429) {
        return {
          summary: `the token endpoint ${ctx.tokenUrl} failed with HTTP ${status}`,
          fix: 'a transient failure of Google STS or the broker: retry; if it persists with the broker, read its log',
          details: said,
        };
      }
      return {
        summary: `the token endpoint ${ctx.tokenUrl} refused the exchange (HTTP ${status}${error ? `, ${error}` : ''})`,
        fix: `check the issuer and token with ${doctorLine(ctx)}`,
        details: said,
      };
  }
}

function explainInvalidGrant(description: string, ctx: ExplainContext): Explanation {
  const issuer = ctx.issuer ?? 'the issuer';
  if (
    /unable to fetch|error connecting|could not (fetch|retrieve)|unreachable|timed? ?out/i.test(
      description,
    )
  ) {
    return {
      summary: `invalid_grant: Google could not fetch the issuer documents of ${issuer}`,
      fix: `Google fetches ${issuer}/.well-known/openid-configuration and its jwks_uri from the internet over HTTPS with a publicly trusted certificate: publish them at the edge, then check with ${doctorLine(ctx)}`,
    };
  }
  if (/issuer/i.test(description) && /match/i.test(description)) {
    const update =
      ctx.provider && ctx.issuer
        ? shellCommand(updateProviderIssuerCommand(ctx.provider, ctx.issuer))
        : 'gcloud iam workload-identity-pools providers update-oidc PROVIDER --issuer-uri=ISSUER';
    return {
      summary: `invalid_grant: the issuer does not match — the token's iss (${issuer}), the discovery document's issuer and the provider's --issuer-uri must be identical, byte for byte (a trailing slash counts)`,
      fix: `if the token's iss is right, point the provider at it: ${update}; otherwise fix --service-account-issuer on the kube-apiserver. Check all three with ${doctorLine(ctx)}`,
    };
  }
  if (/audience/i.test(description)) {
    const expected = ctx.provider ? ctx.provider.audience : ctx.audience;
    return {
      summary: `invalid_grant: the token's audience ${JSON.stringify(ctx.audiences ?? [])} is not one the provider accepts`,
      fix: `set the projected volume's audience to ${expected} (the provider's default), or add the token's audience to the provider's --allowed-audiences`,
    };
  }
  if (/\bkey\b|\bkid\b|signature|jwk/i.test(description)) {
    return {
      summary:
        "invalid_grant: Google has not seen the key that signed this token (not in the issuer's JWKS, or not yet refetched)",
      fix: `publish the cluster's current keys (idbridge sync, or idbridge clusters update CLUSTER --jwks FILE) and give Google a few minutes to refetch; always publish a new key before the kube-apiserver signs with it. Check with ${doctorLine(ctx)}`,
    };
  }
  if (/expired/i.test(description)) {
    return {
      summary: 'invalid_grant: the token has expired',
      fix: "kubelet rewrites the projected token file before it expires: read the file again instead of a copy; check that the pod's token volume is a projected serviceAccountToken",
    };
  }
  if (/lifetime|48/i.test(description)) {
    return {
      summary: 'invalid_grant: the token lives 48 hours or more',
      fix: 'set expirationSeconds of the projected serviceAccountToken volume to 3600 or so (kubelet refreshes it)',
    };
  }
  if (/future/i.test(description)) {
    return {
      summary: 'invalid_grant: the token was issued in the future',
      fix: "synchronise the clocks (NTP) of the cluster's control-plane nodes",
    };
  }
  if (/algorithm/i.test(description)) {
    return {
      summary:
        'invalid_grant: the token is signed with an algorithm Google refuses (RS256 and ES256 only)',
      fix: 'give the kube-apiserver an RSA 2048+ or EC P-256 --service-account-signing-key-file (publish the new public key first)',
    };
  }
  return {
    summary: `invalid_grant: Google refused the token${description ? ` (${quoted(description)})` : ''}`,
    fix: `check the issuer and the token with ${doctorLine(ctx)}`,
  };
}

/** IAM Credentials errors ({"error":{"code","message","status"}}) with the fix. */
export function explainIamError(
  status: number,
  body: unknown,
  ctx: ExplainContext & { principal?: string; url: string },
): Explanation {
  const error =
    ((body ?? {}) as { error?: { code?: unknown; message?: unknown; status?: unknown } }).error ??
    {};
  const code = typeof error.status === 'string' ? error.status : undefined;
  const message = typeof error.message === 'string' ? error.message : '';
  // The broker's own IAM-shaped refusals name the broker or its IDBRIDGE_ settings; Google's never do.
  const brokers = !isGoogle(ctx.url) && /\bbroker\b|IDBRIDGE_/.test(message);
  const said = [
    `${brokers ? `the broker (${origin(ctx.url)})` : 'Google'} said: ${status} ${code ?? ''}${message ? ` — ${quoted(message)}` : ''}`.trim(),
  ];
  const account = ctx.googleServiceAccount ?? 'the service account';
  if (status === 403 || code === 'PERMISSION_DENIED') {
    const member =
      ctx.principal ??
      (ctx.provider && ctx.subject
        ? federatedPrincipal(ctx.provider, ctx.subject)
        : 'principal://iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/subject/SUBJECT');
    return {
      summary: `PERMISSION_DENIED: ${member} may not impersonate ${account}: it lacks ${WORKLOAD_IDENTITY_USER} on that service account (or the account does not exist)`,
      fix: `grant it: ${shellCommand(addWorkloadIdentityUserCommand(account, member))}  (IAM changes take a minute or two to apply; check the account exists with gcloud iam service-accounts describe ${account})`,
      details: said,
    };
  }
  if (status === 404 || code === 'NOT_FOUND') {
    return {
      summary: `NOT_FOUND: the service account ${account} does not exist`,
      fix: `create it (gcloud iam service-accounts create NAME) or fix service_account_impersonation_url: idbridge cred-config … --service-account=NAME@PROJECT.iam.gserviceaccount.com`,
      details: said,
    };
  }
  if (status === 401 || code === 'UNAUTHENTICATED') {
    return {
      summary: 'UNAUTHENTICATED: IAM Credentials did not accept the federated token from STS',
      fix: 'the token_url and the impersonation URL must belong together (both Google, or both the same idbridge broker): regenerate the configuration with idbridge cred-config',
      details: said,
    };
  }
  if (status === 400 && /lifetime/i.test(message)) {
    return {
      summary: `INVALID_ARGUMENT: the requested token lifetime is refused`,
      fix: 'lifetimes over 3600 s need the organisation policy constraints/iam.allowServiceAccountCredentialLifetimeExtension to list this service account; otherwise set --service-account-token-lifetime-seconds of at most 3600',
      details: said,
    };
  }
  if ((status >= 500 || status === 429) && brokers) {
    return {
      summary: `the idbridge broker at ${origin(ctx.url)} answered HTTP ${status}`,
      fix: "the broker itself could not answer now (its rate limit, its store, or Google behind it): retry; if it persists, read the broker's log",
      details: said,
    };
  }
  if (status >= 500 || status === 429) {
    return {
      summary: `IAM Credentials failed with HTTP ${status}`,
      fix: 'a transient failure: retry; if it persists with the broker, read its log',
      details: said,
    };
  }
  return {
    summary: `IAM Credentials refused the impersonation (HTTP ${status}${code ? `, ${code}` : ''})`,
    fix: `check the service account and the binding: gcloud iam service-accounts get-iam-policy ${account}`,
    details: said,
  };
}
