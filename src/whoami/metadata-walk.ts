import { describeFetchError } from '../net/fetch-error.js';
import { fail, pass, skip, warn, type Check } from '../report/report.js';

/**
 * A metadata server's answers walked as an engineer does with curl: the probe, the project, the
 * service accounts, the account's recursive info, a token, an ID token. One check per step, each
 * with the curl line to repeat it; tokens are never shown (only their expiry and claims).
 */
export interface MetadataWalkDeps {
  fetch: typeof fetch;
  timeoutMs: number;
  clock: () => number;
}

export interface MetadataWalkResult {
  checks: Check[];
  email?: string;
  projectId?: string;
  accessTokenExpiresInSeconds?: number;
}

interface Got {
  status: number;
  body: string;
  flavor: string | null;
  type: string | null;
  location: string | null;
  ms: number;
}

const ACCOUNT_FIELDS = ['aliases', 'email', 'scopes'];

export async function walkMetadata(
  base: string,
  audience: string,
  deps: MetadataWalkDeps,
): Promise<MetadataWalkResult> {
  const root = base.replace(/\/+$/, '');
  const checks: Check[] = [];
  const result: MetadataWalkResult = { checks };
  const curl = (path: string, header = true) =>
    `curl -s${header ? " -H 'Metadata-Flavor: Google'" : ''} '${root}${path}'`;
  const get = async (path: string, header = true): Promise<Got | string> => {
    const started = deps.clock();
    try {
      const res = await deps.fetch(`${root}${path}`, {
        headers: header ? { 'metadata-flavor': 'Google' } : {},
        redirect: 'manual',
        signal: AbortSignal.timeout(deps.timeoutMs),
      });
      return {
        status: res.status,
        body: await res.text(),
        flavor: res.headers.get('metadata-flavor'),
        type: res.headers.get('content-type'),
        location: res.headers.get('location'),
        ms: Math.round(deps.clock() - started),
      };
    } catch (err) {
      return describeFetchError(err, deps.timeoutMs);
    }
  };

  // 1. The probe Go's client sends: no header, only the answer's Metadata-Flavor counts.
  const probe = await get('/', false);
  if (typeof probe === 'string') {
    checks.push(
      fail(
        'metadata.reachable',
        `${root}/ cannot be reached: ${probe}`,
        'check GCE_METADATA_HOST and that the metadata-server sidecar is running (kubectl logs POD -c idbridge-metadata)',
        { details: [curl('/', false)] },
      ),
    );
    return result;
  }
  checks.push(
    probe.status === 200 && probe.flavor === 'Google'
      ? pass(
          'metadata.probe',
          'GET / without a header answers 200 with Metadata-Flavor: Google (Go, Python and Node detect the server)',
          { details: [curl('/', false)], ms: probe.ms },
        )
      : fail(
          'metadata.probe',
          `GET / answered ${probe.status}${probe.flavor === 'Google' ? '' : ' without Metadata-Flavor: Google'}`,
          'clients will decide they are not on Google Cloud; point GCE_METADATA_HOST at the idbridge metadata server',
          { details: [curl('/', false)], ms: probe.ms },
        ),
  );

  // 2. The project, as gcloud's detection reads it.
  const numeric = await get('/computeMetadata/v1/project/numeric-project-id');
  const projectId = await get('/computeMetadata/v1/project/project-id');
  if (typeof numeric !== 'string') {
    checks.push(
      numeric.status === 200 && /^\d+$/.test(numeric.body)
        ? pass(
            'metadata.numeric-project-id',
            `project number ${numeric.body} (digits only, as gcloud checks)`,
            { details: [curl('/computeMetadata/v1/project/numeric-project-id')], ms: numeric.ms },
          )
        : warn(
            'metadata.numeric-project-id',
            `numeric-project-id answered ${numeric.status} ${JSON.stringify(numeric.body.slice(0, 80))}`,
            'gcloud checks it is digits only to detect the server; set --numeric-project-id',
            { details: [curl('/computeMetadata/v1/project/numeric-project-id')] },
          ),
    );
  }
  if (typeof projectId !== 'string' && projectId.status === 200) {
    result.projectId = projectId.body;
    checks.push(
      pass('metadata.project-id', `project ${projectId.body}`, {
        details: [curl('/computeMetadata/v1/project/project-id')],
        ms: projectId.ms,
      }),
    );
  } else {
    checks.push(
      fail(
        'metadata.project-id',
        `project-id answered ${typeof projectId === 'string' ? projectId : projectId.status}`,
        'set --project-id on the metadata server',
      ),
    );
  }

  // 3. The service accounts: default and the pod's email.
  const accounts = await get('/computeMetadata/v1/instance/service-accounts/');
  if (typeof accounts === 'string' || accounts.status !== 200) {
    checks.push(
      fail(
        'metadata.service-accounts',
        `service-accounts/ answered ${typeof accounts === 'string' ? accounts : `${accounts.status}: ${accounts.body.trim().slice(0, 200)}`}`,
        "see the metadata server's answer and its log",
        { details: [curl('/computeMetadata/v1/instance/service-accounts/')] },
      ),
    );
    return result;
  }
  const listed = accounts.body.split('\n').filter((line) => line !== '');
  checks.push(
    listed.includes('default/')
      ? pass('metadata.service-accounts', `service accounts: ${listed.join(' ')}`, {
          details: [curl('/computeMetadata/v1/instance/service-accounts/')],
          ms: accounts.ms,
        })
      : fail(
          'metadata.service-accounts',
          `no default/ in ${JSON.stringify(accounts.body.slice(0, 200))}`,
          'this is not a GKE-compatible metadata server',
        ),
  );

  // 4. The account's recursive info, as gcloud and Python read it.
  const info = await get('/computeMetadata/v1/instance/service-accounts/default/?recursive=true');
  if (typeof info !== 'string' && info.status === 200 && info.type === 'application/json') {
    const parsed = safeJson(info.body) as { email?: unknown } | undefined;
    const email = typeof parsed?.email === 'string' ? parsed.email : undefined;
    if (email !== undefined) result.email = email;
    const keys = parsed ? Object.keys(parsed).sort() : [];
    checks.push(
      email !== undefined && keys.join() === ACCOUNT_FIELDS.join()
        ? pass(
            'metadata.account',
            `default is ${email}${email.endsWith('.svc.id.goog') ? " (direct access: the workload pool's identity, no Google service account)" : ''}`,
            {
              details: [
                curl('/computeMetadata/v1/instance/service-accounts/default/?recursive=true'),
              ],
              ms: info.ms,
            },
          )
        : warn(
            'metadata.account',
            `recursive info has keys ${keys.join(', ') || 'none'}`,
            'clients expect exactly aliases, email and scopes',
          ),
    );
  } else {
    checks.push(
      fail(
        'metadata.account',
        `default/?recursive=true answered ${typeof info === 'string' ? info : `${info.status} ${info.type ?? ''}`}`,
        'Python and gcloud read this JSON to find the email',
      ),
    );
  }

  // 5. An access token: what every client asks for.
  const token = await get('/computeMetadata/v1/instance/service-accounts/default/token');
  if (typeof token === 'string') {
    checks.push(
      fail('metadata.token', `token: ${token}`, 'the metadata server did not answer; see its log'),
    );
  } else if (token.status === 200) {
    const parsed = safeJson(token.body) as
      { access_token?: unknown; expires_in?: unknown; token_type?: unknown } | undefined;
    const ok =
      typeof parsed?.access_token === 'string' &&
      Number.isInteger(parsed.expires_in) &&
      parsed.token_type === 'Bearer' &&
      token.flavor === 'Google';
    if (ok) result.accessTokenExpiresInSeconds = parsed!.expires_in as number;
    checks.push(
      ok
        ? pass(
            'metadata.token',
            `an access token, expiring in ${String(parsed!.expires_in)} s (not shown)`,
            {
              details: [
                `${curl('/computeMetadata/v1/instance/service-accounts/default/token')} | jq .expires_in`,
              ],
              ms: token.ms,
            },
          )
        : fail(
            'metadata.token',
            'the token answer is not {access_token, expires_in, token_type: Bearer} with Metadata-Flavor: Google',
            'clients will refuse it',
          ),
    );
  } else {
    checks.push(
      fail(
        'metadata.token',
        `token answered ${token.status}: ${token.body.trim().slice(0, 400)}`,
        token.status === 403
          ? 'add the roles/iam.workloadIdentityUser binding the message names'
          : 'the message says what Google answered; idbridge whoami (with the credential file) explains each step',
        { details: [curl('/computeMetadata/v1/instance/service-accounts/default/token')] },
      ),
    );
  }

  // 6. An ID token for `audience` (only with a Google service account).
  const identity = await get(
    `/computeMetadata/v1/instance/service-accounts/default/identity?audience=${encodeURIComponent(audience)}`,
  );
  if (typeof identity === 'string') {
    checks.push(
      fail(
        'metadata.identity',
        `identity: ${identity}`,
        'the metadata server did not answer; see its log',
      ),
    );
  } else if (identity.status === 200) {
    const claims = safeJson(
      Buffer.from(identity.body.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { aud?: unknown; email?: unknown } | undefined;
    checks.push(
      claims?.aud === audience
        ? pass(
            'metadata.identity',
            `an ID token for ${audience}${typeof claims.email === 'string' ? ` as ${claims.email}` : ''} (not shown)`,
            {
              details: [
                curl(
                  `/computeMetadata/v1/instance/service-accounts/default/identity?audience=${audience}`,
                ),
              ],
              ms: identity.ms,
            },
          )
        : fail(
            'metadata.identity',
            'the identity answer is not a JWT for the audience asked',
            'clients will refuse it',
          ),
    );
  } else if (identity.status === 404 && result.email?.endsWith('.svc.id.goog')) {
    checks.push(
      skip(
        'metadata.identity',
        'no ID tokens with direct access (as on GKE): annotate the ServiceAccount with a Google service account to get them',
      ),
    );
  } else {
    checks.push(
      fail(
        'metadata.identity',
        `identity answered ${identity.status}: ${identity.body.trim().slice(0, 400)}`,
        'the message says what to fix',
      ),
    );
  }
  return result;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
