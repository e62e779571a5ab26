import { Hono, type Context } from 'hono';
import { serveOnLoopback } from '../support/net.js';

/**
 * A fake of the IAM admin API (iam.googleapis.com/v1) for what `gcloud iam workload-identity-pools
 * …` and `gcloud iam service-accounts add-iam-policy-binding` call: pool and OIDC provider
 * creation (answered as finished long-running operations, as gcloud expects), provider reads,
 * and service-account IAM policies with etags. It validates what Google validates for these
 * calls and answers in Google's error shape. gcloud reaches it through
 * CLOUDSDK_API_ENDPOINT_OVERRIDES_IAM.
 *
 * Providers can also be patched (`PATCH …/providers/PROV?updateMask=…`, what `sync --target
 * wif-provider://` sends): unknown mask paths and JWKS members Google does not take are refused
 * with 400 INVALID_ARGUMENT, a stale etag with 409 ABORTED. Given a fake Google (`google`), a
 * bearer must be an access token that fake issued, and each call needs its permission granted to
 * the caller on the provider, its pool or its project (`grant`), else 403 PERMISSION_DENIED as
 * Google words it; without one, any bearer may do anything (what the gcloud suites need).
 *
 * A PATCH answers a google.longrunning.Operation named `{provider}/operations/{id}`, done at once
 * by default; `operateNext` makes the next one finish only after some reads of it
 * (`GET /v1/{provider}/operations/{id}`, when the change lands, as at Google), fail with a
 * google.rpc.Status (nothing changes), or never finish (nothing changes).
 */
export interface FakePool {
  name: string;
  displayName?: string;
  disabled?: boolean;
}

export interface FakeOidcProvider {
  name: string;
  oidc: { issuerUri: string; allowedAudiences?: string[]; jwksJson?: string };
  attributeMapping: Record<string, string>;
  attributeCondition?: string;
  disabled?: boolean;
  /** Changes with every write; a PATCH that carries an older one is refused (409 ABORTED). */
  etag?: string;
}

/** Roles the fake knows, as the permissions on providers they include. */
export const FAKE_ROLES: Readonly<Record<string, readonly string[]>> = {
  'roles/iam.workloadIdentityPoolAdmin': [
    'iam.workloadIdentityPoolProviders.get',
    'iam.workloadIdentityPoolProviders.update',
    'iam.workloadIdentityPoolProviders.create',
  ],
  'roles/iam.workloadIdentityPoolViewer': ['iam.workloadIdentityPoolProviders.get'],
};

/** Members of the JWKS Google stores (its reference lists exactly these). */
const JWK_MEMBERS = new Set(['kty', 'alg', 'use', 'kid', 'n', 'e', 'x', 'y', 'crv']);
/** The provider fields an update mask may name. */
const PROVIDER_MASK_PATHS = new Set([
  'displayName',
  'description',
  'disabled',
  'attributeMapping',
  'attributeCondition',
  'oidc',
  'oidc.issuerUri',
  'oidc.allowedAudiences',
  'oidc.jwksJson',
]);

export interface FakeIamAdminOptions {
  /** Verify bearers as Google does: tokens this fake Google issued, each caller with its own grants. */
  google?: { principalOf(accessToken: string): string | undefined };
}

export type FakeIamCall = 'getProvider' | 'patchProvider' | 'getOperation';

/** How the operation of a provider PATCH behaves. */
export interface FakeOperationBehaviour {
  /** Reads of the operation answered `done: false` before it is done (and the change lands). Default 0. */
  polls?: number;
  /** The operation ends done with this google.rpc.Status; the provider is not changed. */
  error?: { code: number; message: string };
  /** The operation is never done; the provider is not changed. */
  never?: boolean;
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
  /** Service account email, or pool name, → policy. */
  policies: Map<string, FakePolicy>;
  /** Provider reads and patches answered (refused ones included). */
  calls: Record<FakeIamCall, number>;
  /** Lets `member` use `roleOrPermission` on `resource` (a provider, pool or `projects/NUM`). */
  grant(member: string, roleOrPermission: string, resource: string): void;
  revoke(member: string): void;
  /** The next `count` calls of this kind answer this status in Google's error shape. */
  failNext(call: FakeIamCall, status: 429 | 500 | 503, count?: number): void;
  /** The operations of the next PATCHes, one behaviour each, in order (then: done at once). */
  operateNext(...behaviours: FakeOperationBehaviour[]): void;
  /** Runs once, after the next provider read is answered and before anything else (a concurrent writer). */
  afterNextRead(hook: () => void): void;
  /** What another writer does: sets a provider's uploaded keys and gives it a new etag. */
  setJwks(name: string, jwksJson: string | undefined): void;
  close(): Promise<void>;
}

const ID = /^[a-z0-9-]{4,32}$/;

export async function startFakeIamAdmin(options: FakeIamAdminOptions = {}): Promise<FakeIamAdmin> {
  const pools = new Map<string, FakePool>();
  const providers = new Map<string, FakeOidcProvider>();
  const policies = new Map<string, FakePolicy>();
  const grants = new Map<string, Array<{ permission: string; resource: string }>>();
  const calls: Record<FakeIamCall, number> = { getProvider: 0, patchProvider: 0, getOperation: 0 };
  const faults: Record<FakeIamCall, number[]> = {
    getProvider: [],
    patchProvider: [],
    getOperation: [],
  };
  const behaviours: FakeOperationBehaviour[] = [];
  /** Provider operations not done at once: what each read answers, and the change it lands. */
  const running = new Map<
    string,
    { provider: string; left: number; behaviour: FakeOperationBehaviour; land: () => object }
  >();
  const readHooks: Array<() => void> = [];
  let etagCounter = 0;
  const nextEtag = () => Buffer.from(`etag-${++etagCounter}`).toString('base64');

  const error = (
    c: Context,
    code: 400 | 401 | 403 | 404 | 409 | 429 | 500 | 503,
    status: string,
    message: string,
  ) => c.json({ error: { code, message, status } }, code);
  const STATUS_NAMES = { 429: 'RESOURCE_EXHAUSTED', 500: 'INTERNAL', 503: 'UNAVAILABLE' } as const;

  /** Google's check: the caller's permission on the resource or any parent, else 403 (existing or not). */
  const permitted = (c: Context, permission: string, resource: string): Response | null => {
    if (!options.google) return null;
    const principal = c.get('principal' as never) as string;
    const held = grants.get(principal) ?? [];
    if (
      held.some(
        (g) =>
          g.permission === permission &&
          (resource === g.resource || resource.startsWith(`${g.resource}/`)),
      )
    )
      return null;
    return error(
      c,
      403,
      'PERMISSION_DENIED',
      `Permission '${permission}' denied on resource '//iam.googleapis.com/${resource}' (or it may not exist).`,
    );
  };

  /** Why Google would refuse these uploaded keys, or undefined. */
  const jwksProblem = (jwksJson: unknown): string | undefined => {
    if (typeof jwksJson !== 'string') return 'jwks_json must be a string.';
    let parsed: unknown;
    try {
      parsed = JSON.parse(jwksJson);
    } catch {
      return 'Invalid JWKS: the value is not valid JSON.';
    }
    const keys = (parsed as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.length === 0)
      return 'Invalid JWKS: it must contain a non-empty "keys" array.';
    for (const key of keys as Array<Record<string, unknown>>) {
      const extra = Object.keys(key ?? {}).filter((member) => !JWK_MEMBERS.has(member));
      if (extra.length > 0) return `Invalid JWK: unsupported field [${extra[0]}].`;
      if (key.kty !== 'RSA' && key.kty !== 'EC')
        return `Invalid JWK: unsupported key type [${String(key.kty)}].`;
    }
    return undefined;
  };
  const operation = (name: string, response: object) => ({
    name: `${name}/operations/op-${++etagCounter}`,
    done: true,
    response,
  });

  const app = new Hono();
  app.use('*', async (c, next) => {
    const bearer = /^Bearer (\S+)$/.exec(c.req.header('authorization') ?? '')?.[1];
    if (!bearer)
      return error(
        c,
        401,
        'UNAUTHENTICATED',
        'Request is missing required authentication credential.',
      );
    if (options.google) {
      const principal = options.google.principalOf(bearer);
      if (!principal)
        return error(
          c,
          401,
          'UNAUTHENTICATED',
          'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
        );
      c.set('principal' as never, principal as never);
    }
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
      if (body.oidc.jwksJson !== undefined) {
        const problem = jwksProblem(body.oidc.jwksJson);
        if (problem) return error(c, 400, 'INVALID_ARGUMENT', problem);
      }
      providers.set(name, { name, ...body, etag: nextEtag() });
      return c.json(operation(name, providers.get(name)!));
    },
  );

  const providerPath =
    '/v1/projects/:project/locations/global/workloadIdentityPools/:pool/providers/:provider';
  const providerName = (c: Context) =>
    `projects/${c.req.param('project')}/locations/global/workloadIdentityPools/${c.req.param('pool')}/providers/${c.req.param('provider')}`;
  const injected = (c: Context, call: FakeIamCall): Response | null => {
    calls[call]++;
    const status = faults[call].shift();
    return status === undefined
      ? null
      : error(c, status as 429 | 500 | 503, STATUS_NAMES[status as 429 | 500 | 503], 'injected');
  };

  app.get(providerPath, (c) => {
    const faulted = injected(c, 'getProvider');
    if (faulted) return faulted;
    const name = providerName(c);
    const denied = permitted(c, 'iam.workloadIdentityPoolProviders.get', name);
    if (denied) return denied;
    const found = providers.get(name);
    if (!found) return error(c, 404, 'NOT_FOUND', 'Requested entity was not found.');
    const answer = c.json(found);
    // The "concurrent" writer acts once this read is answered.
    readHooks.shift()?.();
    return answer;
  });

  app.patch(providerPath, async (c) => {
    const faulted = injected(c, 'patchProvider');
    if (faulted) return faulted;
    const name = providerName(c);
    const denied = permitted(c, 'iam.workloadIdentityPoolProviders.update', name);
    if (denied) return denied;
    const found = providers.get(name);
    if (!found) return error(c, 404, 'NOT_FOUND', 'Requested entity was not found.');
    const mask = c.req.query('updateMask');
    if (!mask) return error(c, 400, 'INVALID_ARGUMENT', 'Field update_mask is required.');
    const paths = mask.split(',');
    const unknown = paths.find((path) => !PROVIDER_MASK_PATHS.has(path));
    if (unknown !== undefined)
      return error(c, 400, 'INVALID_ARGUMENT', `Invalid update mask path: "${unknown}".`);
    let body: Partial<FakeOidcProvider>;
    try {
      body = (await c.req.json()) as Partial<FakeOidcProvider>;
    } catch {
      return error(c, 400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
    }
    if (body.etag !== undefined && body.etag !== found.etag)
      return error(
        c,
        409,
        'ABORTED',
        'The provider was modified concurrently; read it again and retry with the new etag.',
      );
    const next: FakeOidcProvider = { ...found, oidc: { ...found.oidc } };
    for (const path of paths) {
      if (path === 'oidc.jwksJson') {
        const problem = jwksProblem(body.oidc?.jwksJson);
        if (problem) return error(c, 400, 'INVALID_ARGUMENT', problem);
        next.oidc.jwksJson = body.oidc!.jwksJson!;
      } else if (path === 'oidc.issuerUri') {
        if (!body.oidc?.issuerUri?.startsWith('https://'))
          return error(c, 400, 'INVALID_ARGUMENT', 'The issuer URI must be a valid https URL.');
        next.oidc.issuerUri = body.oidc.issuerUri;
      } else if (path.startsWith('oidc')) {
        return error(c, 400, 'INVALID_ARGUMENT', `The fake does not update "${path}".`);
      } else {
        (next as unknown as Record<string, unknown>)[path] = (
          body as unknown as Record<string, unknown>
        )[path];
      }
    }
    next.etag = nextEtag();
    const behaviour = behaviours.shift() ?? {};
    let landed = false;
    const land = () => {
      if (!landed) providers.set(name, next);
      landed = true;
      return next;
    };
    if (!behaviour.error && !behaviour.never && !behaviour.polls)
      return c.json(operation(name, land()));
    const op = `${name}/operations/op-${++etagCounter}`;
    running.set(op, { provider: name, left: behaviour.polls ?? 0, behaviour, land });
    return c.json({ name: op, done: false });
  });

  app.get(`${providerPath}/operations/:operation`, (c) => {
    const faulted = injected(c, 'getOperation');
    if (faulted) return faulted;
    const provider = providerName(c);
    const denied = permitted(c, 'iam.workloadIdentityPoolProviders.get', provider);
    if (denied) return denied;
    const op = `${provider}/operations/${c.req.param('operation')}`;
    const found = running.get(op);
    if (!found) return error(c, 404, 'NOT_FOUND', 'Requested entity was not found.');
    if (found.behaviour.never || found.left-- > 0) return c.json({ name: op, done: false });
    if (found.behaviour.error)
      return c.json({ name: op, done: true, error: found.behaviour.error });
    return c.json({ name: op, done: true, response: found.land() });
  });

  // Service accounts (keyed by email) and workload identity pools (keyed by their name).
  const policyRoute =
    /^\/v1\/(?:projects\/[^/]+\/serviceAccounts\/([^/:]+)|(projects\/[^/]+\/locations\/global\/workloadIdentityPools\/[^/:]+)):(getIamPolicy|setIamPolicy)$/;
  app.post('*', async (c) => {
    const found = policyRoute.exec(c.req.path);
    if (!found) return error(c, 404, 'NOT_FOUND', 'Not Found');
    if (found[2] !== undefined && !pools.has(found[2]))
      return error(c, 404, 'NOT_FOUND', 'Requested entity was not found.');
    const match = [found[0], found[1] ?? found[2], found[3]] as const;
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
    calls,
    grant(member, roleOrPermission, resource) {
      const permissions = FAKE_ROLES[roleOrPermission] ?? [roleOrPermission];
      const held = grants.get(member) ?? [];
      grants.set(member, [...held, ...permissions.map((permission) => ({ permission, resource }))]);
    },
    revoke(member) {
      grants.delete(member);
    },
    failNext(call, status, count = 1) {
      for (let i = 0; i < count; i++) faults[call].push(status);
    },
    operateNext(...next) {
      behaviours.push(...next);
    },
    afterNextRead(hook) {
      readHooks.push(hook);
    },
    setJwks(name, jwksJson) {
      const found = providers.get(name);
      if (!found) throw new Error(`no provider ${name}`);
      const oidc = { ...found.oidc };
      if (jwksJson === undefined) delete oidc.jwksJson;
      else oidc.jwksJson = jwksJson;
      providers.set(name, { ...found, oidc, etag: nextEtag() });
    },
    close: server.close,
  };
}
