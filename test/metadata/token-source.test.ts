import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UpstreamClient } from '../../src/broker/upstream.js';
import { decide, DEFAULT_SCOPES, type InstanceView } from '../../src/metadata/api.js';
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
