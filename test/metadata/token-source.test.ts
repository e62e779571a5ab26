import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UpstreamClient } from '../../src/broker/upstream.js';
import { decide, DEFAULT_SCOPES, tokenAnswer, type InstanceView } from '../../src/metadata/api.js';
import { nodeInstanceView, viewPerIdentity } from '../../src/metadata/node-config.js';
import { loadSidecarIdentity } from '../../src/metadata/sidecar-identity.js';
import { TokenSource } from '../../src/metadata/token-source.js';
import { GSA, startMetadataWorld, type MetadataWorld } from './world.js';

/** The token source with an injected clock and scheduler, against the fake Google. */
function manualScheduler() {
  const pending: Array<{ fn: () => void; ms: number }> = [];
  return {
    pending,
    schedule: (fn: () => void, ms: number) => {
      const entry = { fn, ms };
      pending.push(entry);
      return () => {
        pending.splice(pending.indexOf(entry), 1);
      };
    },
    /** Runs every timer due so far, once. */
    runAll: () => {
      for (const entry of pending.splice(0)) entry.fn();
    },
  };
}

describe('token source', () => {
  let world: MetadataWorld;
  beforeAll(async () => {
    world = await startMetadataWorld();
  });
  afterAll(async () => {
    await world?.close();
  });

  async function setup(gsa: string | undefined, options: { maxEntries?: number } = {}) {
    const sidecar = await loadSidecarIdentity({
      credentialConfigPath: await world.credentialConfig(`ts-${gsa ?? 'direct'}`, gsa),
      projectId: 'proj-abc12',
      attributes: {},
    });
    const scheduler = manualScheduler();
    let now = Date.now();
    const tokens = new TokenSource({
      upstream: new UpstreamClient({ timeoutMs: 5_000, attempts: 1 }),
      schedule: scheduler.schedule,
      now: () => now,
      ...options,
    });
    return {
      identity: sidecar.resolver.identity,
      tokens,
      scheduler,
      advance: (ms: number) => {
        now += ms;
      },
    };
  }

  it('refreshes in the background at 80 % of the lifetime while the token is used, then serves the new one without waiting', async () => {
    const { identity, tokens, scheduler, advance } = await setup(GSA);
    const first = await tokens.accessToken(identity, DEFAULT_SCOPES);
    expect(first.ok).toBe(true);
    const calls = world.google.calls.generateAccessToken;
    // One refresh timer per token (impersonated and the federated one behind it), at 80 % of an hour.
    expect(scheduler.pending.map((p) => Math.round(p.ms / 60_000))).toContain(48);
    advance(48 * 60_000);
    scheduler.runAll();
    await vi.waitFor(() => expect(world.google.calls.generateAccessToken).toBe(calls + 1), {
      timeout: 20_000,
    });
    await vi.waitFor(() => expect(scheduler.pending.length).toBeGreaterThan(0), {
      timeout: 20_000,
    });
    const callsAfterRefresh = world.google.calls.generateAccessToken;
    const second = await tokens.accessToken(identity, DEFAULT_SCOPES);
    expect(second.ok && first.ok && second.token !== first.token).toBe(true);
    expect(world.google.calls.generateAccessToken).toBe(callsAfterRefresh);
    tokens.close();
  });

  it('stops refreshing a token nobody read since the last refresh', async () => {
    const { identity, tokens, scheduler, advance } = await setup(undefined);
    await tokens.accessToken(identity, ['https://www.googleapis.com/auth/idle']);
    const calls = world.google.calls.token;
    advance(48 * 60_000);
    scheduler.runAll();
    await vi.waitFor(() => expect(world.google.calls.token).toBe(calls + 1), { timeout: 20_000 });
    await vi.waitFor(() => expect(scheduler.pending).toHaveLength(1), { timeout: 20_000 });
    // The refreshed token was never asked for: the next timer ends the chain, with no call and no new timer.
    advance(48 * 60_000);
    scheduler.runAll();
    expect(scheduler.pending).toHaveLength(0);
    expect(world.google.calls.token).toBe(calls + 1);
    tokens.close();
  });

  it('a rotated projected token file is read at the next exchange', async () => {
    const { identity } = await setup(undefined);
    const rotated = await world.writeToken('web');
    expect(await identity.subjectToken()).toBe(rotated);
    expect(await readFile(world.tokenFile, 'utf8')).toBe(rotated);
    const again = await world.writeToken('web');
    expect(again).not.toBe(rotated);
    expect(await identity.subjectToken()).toBe(again);
  });

  it('the cache is bounded: the least recently used entry goes', async () => {
    const { identity, tokens } = await setup(undefined, { maxEntries: 3 });
    for (let i = 0; i < 10; i++)
      await tokens.accessToken(identity, [`https://www.googleapis.com/auth/s${i}`]);
    expect(tokens.size).toBe(3);
    tokens.close();
  });

  it('freshAccessToken: the cached token at once, nothing before the first fetch or near expiry', async () => {
    const { identity, tokens, advance } = await setup(GSA);
    const scopes = ['https://www.googleapis.com/auth/cloud-platform'];
    expect(tokens.freshAccessToken(identity, scopes)).toBeUndefined();
    const first = await tokens.accessToken(identity, scopes);
    expect(first.ok).toBe(true);
    // An equal scopes list in another array, and in another order, is the same entry.
    expect(tokens.freshAccessToken(identity, [...scopes])).toMatchObject({
      ok: true,
      token: first.ok ? first.token : '',
    });
    const calls = world.google.calls.generateAccessToken;
    if (!first.ok) throw new Error('no token');
    // Within 60 s of expiry a token is not handed out: the warm path has nothing, the slow path fetches.
    advance(first.expiresAtMs - Date.now() - 59_000);
    expect(tokens.freshAccessToken(identity, scopes)).toBeUndefined();
    const second = await tokens.accessToken(identity, scopes);
    expect(world.google.calls.generateAccessToken - calls).toBe(1);
    expect(second.ok && second.token !== first.token).toBe(true);
    tokens.close();
  });

  it('recency: the entry read last stays when the cache is full', async () => {
    const { identity, tokens } = await setup(undefined, { maxEntries: 2 });
    const [a, b, c] = ['a', 'b', 'c'].map((s) => [`https://www.googleapis.com/auth/${s}`]);
    await tokens.accessToken(identity, a!);
    await tokens.accessToken(identity, b!);
    expect(tokens.freshAccessToken(identity, a!)).toBeDefined();
    await tokens.accessToken(identity, c!);
    expect(tokens.freshAccessToken(identity, b!)).toBeUndefined();
    expect(tokens.freshAccessToken(identity, a!)).toBeDefined();
    expect(tokens.freshAccessToken(identity, c!)).toBeDefined();
    tokens.close();
  });

  it('ID tokens are cached per audience', async () => {
    const { identity, tokens } = await setup(GSA);
    const before = world.google.calls.generateIdToken;
    const a = await tokens.idToken(identity, 'https://a.example.com');
    const a2 = await tokens.idToken(identity, 'https://a.example.com');
    const b = await tokens.idToken(identity, 'https://b.example.com');
    expect(a.ok && a2.ok && a.token === a2.token).toBe(true);
    expect(b.ok && a.ok && b.token !== a.token).toBe(true);
    expect(world.google.calls.generateIdToken - before).toBe(2);
    tokens.close();
  });
});

describe('metadata API decisions, plain values', () => {
  const view: InstanceView = {
    projectId: 'p-123456',
    numericProjectId: '42',
    googleServiceAccount: GSA,
    kubernetesServiceAccount: 'apps/web',
    universeDomain: 'googleapis.com',
    attributes: {},
  };
  const request = (
    path: string,
    query = '',
    headers: Record<string, string> = { 'metadata-flavor': 'Google' },
    method = 'GET',
  ) => ({ method, path, query, headers });

  it('token scopes are split on commas, trimmed, and de-duplicated', () => {
    expect(
      decide(
        request(
          '/computeMetadata/v1/instance/service-accounts/default/token',
          'scopes=a,%20b%20,a,,',
        ),
        view,
      ),
    ).toEqual({ need: { kind: 'access', scopes: ['a', 'b'] } });
    expect(
      decide(request('/computeMetadata/v1/instance/service-accounts/default/token'), view),
    ).toEqual({ need: { kind: 'access', scopes: DEFAULT_SCOPES } });
  });

  it('identity needs an audience; format and licenses change nothing', () => {
    expect(
      decide(
        request(
          '/computeMetadata/v1/instance/service-accounts/default/identity',
          'audience=x&format=full&licenses=FALSE',
        ),
        view,
      ),
    ).toEqual({ need: { kind: 'id', audience: 'x' } });
  });

  it('method, X-Forwarded-For and Metadata-Flavor are refused before any path is looked at', () => {
    const answer = (d: ReturnType<typeof decide>) => ('answer' in d ? d.answer.status : 0);
    expect(answer(decide(request('/nope', '', {}, 'DELETE'), view))).toBe(405);
    expect(answer(decide(request('/', '', { 'x-forwarded-for': '1.1.1.1' }), view))).toBe(403);
    expect(
      answer(
        decide(
          request('/computeMetadata/v1/instance/service-accounts/default/token', '', {}),
          view,
        ),
      ),
    ).toBe(403);
  });

  it('a repeated request gets the decision a fresh view would give, however many are kept', () => {
    const requests = [
      request('/computeMetadata/v1/instance/service-accounts/default/token', 'scopes=a,b'),
      request('/computeMetadata/v1/instance/service-accounts/default/token'),
      request('/computeMetadata/v1/instance/service-accounts/default', 'recursive=true'),
      request('/computeMetadata/v1/instance/service-accounts/default/', 'recursive=true'),
      request('/computeMetadata/v1/instance/service-accounts/other@p.iam.gserviceaccount.com/'),
      request('/computeMetadata/v1/instance/service-accounts/default/identity', 'audience=x'),
      request('/computeMetadata/v1/instance/service-accounts/default/identity'),
      request('/computeMetadata/v1/project/%zz'),
      request(`/computeMetadata/v1/${'a/'.repeat(400)}`),
    ];
    const kept = { ...view };
    const once = requests.map((r) => decide(r, kept));
    // More distinct requests than the memo keeps, then the same ones again.
    for (let i = 0; i < 600; i++) decide(request(`/computeMetadata/v1/project/p${i}`), kept);
    for (const [i, r] of requests.entries()) {
      const fresh = decide(r, { ...view });
      expect(decide(r, kept)).toEqual(fresh);
      expect(once[i]).toEqual(fresh);
    }
  });

  it('the /token answer follows the clock for a result it has answered before', () => {
    const result = { ok: true as const, token: 'ya29.x', expiresAtMs: 3_600_000 };
    const body = (nowMs: number) => JSON.parse(tokenAnswer(result, nowMs).body) as object;
    expect(body(0)).toEqual({ access_token: 'ya29.x', expires_in: 3600, token_type: 'Bearer' });
    expect(body(999)).toMatchObject({ expires_in: 3599 });
    expect(body(1_500)).toMatchObject({ expires_in: 3598 });
    expect(body(0)).toMatchObject({ expires_in: 3600 });
    expect(body(3_600_001)).toMatchObject({ expires_in: 0 });
  });

  it('node mode: one view per identity key, so a changed annotation is a new view', () => {
    const cluster = { projectId: 'p-123456', universeDomain: 'googleapis.com', attributes: {} };
    let made = 0;
    const viewOf = viewPerIdentity((identity) => {
      made++;
      return nodeInstanceView(identity, cluster);
    }, 2);
    const pod = (serviceAccount: string, googleServiceAccount?: string) => ({
      namespace: 'apps',
      serviceAccount,
      ...(googleServiceAccount ? { googleServiceAccount } : {}),
      audience:
        '//iam.googleapis.com/projects/42/locations/global/workloadIdentityPools/p/providers/x',
      tokenUrl: 'https://sts.googleapis.com/v1/token',
      iamCredentialsUrl: 'https://iamcredentials.googleapis.com',
      subjectToken: () => Promise.resolve('unused'),
      key: `apps/${serviceAccount}/${googleServiceAccount ?? ''}/x`,
    });
    const email = (identity: ReturnType<typeof pod>) => {
      const d = decide(
        request('/computeMetadata/v1/instance/service-accounts/default/email'),
        viewOf(identity),
      );
      return 'answer' in d ? d.answer.body : '';
    };
    expect(email(pod('web', GSA))).toBe(GSA);
    expect(email(pod('web', GSA))).toBe(GSA);
    expect(made).toBe(1);
    // The ServiceAccount's annotation changed: another key, another view.
    expect(email(pod('web'))).toBe('p-123456.svc.id.goog');
    expect(made).toBe(2);
    // Past the bound the memo starts again, and answers stay right.
    expect(email(pod('batch'))).toBe('p-123456.svc.id.goog');
    expect(email(pod('web', GSA))).toBe(GSA);
    expect(made).toBe(4);
  });

  it('readyz reports what is missing', () => {
    const d = decide(request('/readyz', '', {}), view, {
      ready: false,
      reason: 'the ServiceAccount token cannot be read (ENOENT)',
    });
    expect('answer' in d && d.answer).toMatchObject({
      status: 503,
      body: 'not ready: the ServiceAccount token cannot be read (ENOENT)\n',
    });
  });
});
