import { Hono, type Context } from 'hono';
import { serveOnLoopback } from '../support/net.js';

/**
 * A fake of the IAM admin API (iam.googleapis.com/v1) for what `gcloud iam workload-identity-pools
 * …` and `gcloud iam service-accounts add-iam-policy-binding` call: pool and OIDC provider
 * creation (answered as finished long-running operations, as gcloud expects), provider reads,
 * and service-account IAM policies with etags. It validates what Google validates for these
 * calls and answers in Google's error shape. gcloud reaches it through
 * CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM.
 */
export interface FakePool {
  name: string;
  displayName?: string;
  disabled?: boolean;
}

export interface FakeOidcProvider {
  name: string;
  oidc: { issuerUri: string; allowedAudiences?: string[] };
  attributeMapping: Record<string, string>;
  attributeCondition?: string;
  disabled?: boolean;
}

export interface FakePolicy {
  version?: number;
  etag: string;
  bindings: Array<{ role: string; members: string[] }>;
}

export interface FakeIamAdmin {
  url: string;
  pools: Map<string, FakePool>;
  providers: Map<string, FakeOidcProvider>;
  /** Service account email → policy. */
  policies: Map<string, FakePolicy>;
  close(): Promise<void>;
}

const ID = /^[a-z0-9-]{4,32}$/;

export async function startFakeIamAdmin(): Promise<FakeIamAdmin> {
  const pools = new Map<string, FakePool>();
  const providers = new Map<string, FakeOidcProvider>();
  const policies = new Map<string, FakePolicy>();
  let etagCounter = 0;
  const nextEtag = () => Buffer.from(`etag-${++etagCounter}`).toString('base64');

  const error = (c: Context, code: 400 | 401 | 404 | 409, status: string, message: string) =>
    c.json({ error: { code, message, status } }, code);
  const operation = (name: string, response: object) => ({
    name: `${name}/operations/op-${++etagCounter}`,
    done: true,
    response,
  });

  const app = new Hono();
  app.use('*', async (c, next) => {
    if (!/^Bearer \S+/.test(c.req.header('authorization') ?? ''))
      return error(
        c,
        401,
        'UNAUTHENTICATED',
        'Request is missing required authentication credential.',
      );
    return next();
  });

  app.post('/v1/projects/:project/locations/global/workloadIdentityPools', async (c) => {
    const id = c.req.query('workloadIdentityPoolId') ?? '';
    if (!ID.test(id) || id.startsWith('gcp-'))
      return error(c, 400, 'INVALID_ARGUMENT', 'Invalid workload identity pool id.');
    const name = `projects/${c.req.param('project')}/locations/global/workloadIdentityPools/${id}`;
    if (pools.has(name)) return error(c, 409, 'ALREADY_EXISTS', 'Requested entity already exists');
    const body = (await c.req.json()) as Omit<FakePool, 'name'>;
    pools.set(name, { name, ...body });
    return c.json(operation(name, pools.get(name)!));
  });

  app.post(
    '/v1/projects/:project/locations/global/workloadIdentityPools/:pool/providers',
    async (c) => {
      const pool = `projects/${c.req.param('project')}/locations/global/workloadIdentityPools/${c.req.param('pool')}`;
      if (!pools.has(pool)) return error(c, 404, 'NOT_FOUND', `Requested entity was not found.`);
      const id = c.req.query('workloadIdentityPoolProviderId') ?? '';
      if (!ID.test(id) || id.startsWith('gcp-'))
        return error(c, 400, 'INVALID_ARGUMENT', 'Invalid workload identity pool provider id.');
      const name = `${pool}/providers/${id}`;
      if (providers.has(name))
        return error(c, 409, 'ALREADY_EXISTS', 'Requested entity already exists');
      const body = (await c.req.json()) as Omit<FakeOidcProvider, 'name'>;
      if (!body.oidc?.issuerUri?.startsWith('https://'))
        return error(c, 400, 'INVALID_ARGUMENT', 'The issuer URI must be a valid https URL.');
      if (!body.attributeMapping?.['google.subject'])
        return error(
          c,
          400,
          'INVALID_ARGUMENT',
          'The attribute mapping must contain a mapping for google.subject.',
        );
      providers.set(name, { name, ...body });
      return c.json(operation(name, providers.get(name)!));
    },
  );

  app.get(
    '/v1/projects/:project/locations/global/workloadIdentityPools/:pool/providers/:provider',
    (c) => {
      const found = providers.get(
        `projects/${c.req.param('project')}/locations/global/workloadIdentityPools/${c.req.param('pool')}/providers/${c.req.param('provider')}`,
      );
      return found ? c.json(found) : error(c, 404, 'NOT_FOUND', 'Requested entity was not found.');
    },
  );

  const policyRoute =
    /^\/v1\/projects\/[^/]+\/serviceAccounts\/([^/:]+):(getIamPolicy|setIamPolicy)$/;
  app.post('*', async (c) => {
    const match = policyRoute.exec(c.req.path);
    if (!match) return error(c, 404, 'NOT_FOUND', 'Not Found');
    const email = decodeURIComponent(match[1]!);
    const current = policies.get(email) ?? { version: 1, etag: nextEtag(), bindings: [] };
    policies.set(email, current);
    if (match[2] === 'getIamPolicy') return c.json(current);
    const body = (await c.req.json()) as { policy?: FakePolicy };
    if (!body.policy) return error(c, 400, 'INVALID_ARGUMENT', 'policy is required');
    if (body.policy.etag !== undefined && body.policy.etag !== current.etag)
      return error(
        c,
        409,
        'ABORTED',
        'There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.',
      );
    const stored = { ...body.policy, etag: nextEtag() };
    policies.set(email, stored);
    return c.json(stored);
  });

  const server = await serveOnLoopback(app);
  return {
    url: server.url,
    pools,
    providers,
    policies,
    close: server.close,
  };
}
