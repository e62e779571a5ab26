import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { SyncFailure } from '../../src/sync/failure.js';
import { IamProviderClient } from '../../src/sync/iam-providers.js';
import { providerFailure } from '../../src/sync/wif-provider-target.js';
import { startFakeIamAdmin, type FakeIamAdmin } from '../fakes/iam-admin.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';

const provider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/fleet/providers/private-c1',
);
const TOKEN = 'ya29.secret-access-token-value';

/** A clock that only moves when the client waits: the deadline is measured on it, never on the wall. */
function steppedClock() {
  let at = 0;
  const waits: number[] = [];
  return {
    waits,
    now: () => at,
    sleep: async (ms: number) => {
      waits.push(ms);
      at += ms;
    },
  };
}

/**
 * The provider PATCH answers a google.longrunning.Operation; sync reads it again until it is done
 * (`GET /v1/{name}`), with a bounded wait on an injected clock. The real client against the IAM
 * fake for each way an operation ends, and against hostile answers for what is not an operation.
 */
describe('IamProviderClient.putJwks: the write operation', () => {
  let iam: FakeIamAdmin;
  const next = JSON.stringify(jwksOf(generateClusterKey('RS256'), generateClusterKey('ES256')));
  const original = JSON.stringify(jwksOf(generateClusterKey('RS256')));
  const client = (clock: ReturnType<typeof steppedClock>, deadlineMs = 60_000) =>
    new IamProviderClient({
      iamUrl: iam.url,
      accessToken: async () => TOKEN,
      operationDeadlineMs: deadlineMs,
      now: clock.now,
      sleep: clock.sleep,
    });
  const failureOf = async (promise: Promise<unknown>) => {
    const failure = providerFailure(
      await promise.then(
        () => new Error('expected a failure'),
        (e: unknown) => e,
      ),
      provider,
    );
    expect(failure).toBeInstanceOf(SyncFailure);
    expect((failure as SyncFailure).message).not.toContain(TOKEN);
    return failure as SyncFailure;
  };
  const uploaded = () => iam.providers.get(provider.path)!.oidc.jwksJson;

  beforeAll(async () => {
    iam = await startFakeIamAdmin();
  });
  afterAll(async () => {
    await iam?.close();
  });
  beforeEach(() => {
    iam.providers.set(provider.path, {
      name: provider.path,
      oidc: { issuerUri: 'https://issuer.example/c1', jwksJson: original },
      attributeMapping: { 'google.subject': 'assertion.sub' },
    });
  });

  it('an operation done at once needs no read', async () => {
    const clock = steppedClock();
    const reads = iam.calls.getOperation;
    const result = await client(clock).putJwks(provider, next, undefined);
    expect(result.polls).toBe(0);
    expect(result.operation).toMatch(new RegExp(`^${provider.path}/operations/`));
    expect(iam.calls.getOperation).toBe(reads);
    expect(uploaded()).toBe(next);
  });

  it('reads the operation again, backing off, until it is done; the keys land then', async () => {
    iam.operateNext({ polls: 3 });
    const clock = steppedClock();
    const reads = iam.calls.getOperation;
    const result = await client(clock).putJwks(provider, next, undefined);
    expect(result.polls).toBe(4);
    expect(iam.calls.getOperation).toBe(reads + 4);
    expect(clock.waits).toEqual([250, 500, 1000, 2000]);
    expect(uploaded()).toBe(next);
  });

  it('an operation done with an error is a failed write with Google status and message', async () => {
    iam.operateNext({ error: { code: 7, message: "Permission 'iam.x.update' denied." } });
    const denied = await failureOf(client(steppedClock()).putJwks(provider, next, undefined));
    expect(denied.kind).toBe('refused');
    expect(denied.exitCode).toBe(4);
    expect(denied.message).toMatch(
      /refused to update provider .*403 PERMISSION_DENIED: Permission 'iam\.x\.update' denied\. \(operation .*\/operations\/op-\d+ failed\)/,
    );
    expect(denied.message).toMatch(/add-iam-policy-binding/);
    iam.operateNext({ error: { code: 9, message: 'The provider is being deleted.' } });
    const failed = await failureOf(client(steppedClock()).putJwks(provider, next, undefined));
    expect(failed.kind).toBe('refused');
    expect(failed.retryable).toBe(false);
    expect(failed.message).toMatch(
      /Google answered the update of provider .* with 400 FAILED_PRECONDITION: The provider is being deleted\./,
    );
    iam.operateNext({ error: { code: 14, message: 'Try again.' } });
    const outage = await failureOf(client(steppedClock()).putJwks(provider, next, undefined));
    expect(outage.kind).toBe('unavailable');
    expect(outage.retryable).toBe(true);
    expect(uploaded()).toBe(original);
  });

  it('an operation never done is given up at the deadline, saying the write may still land', async () => {
    iam.operateNext({ never: true });
    const clock = steppedClock();
    const reads = iam.calls.getOperation;
    const failure = await failureOf(client(clock, 20_000).putJwks(provider, next, undefined));
    expect(failure.kind).toBe('unavailable');
    expect(failure.exitCode).toBe(5);
    expect(failure.message).toMatch(/was not done after \d+ s: the write may still land/);
    expect(failure.message).toMatch(/the next attempt reads the provider back/);
    // Bounded: no wait goes past the deadline, and the waits are capped at 5 s.
    expect(clock.now()).toBeLessThanOrEqual(20_000);
    expect(Math.max(...clock.waits)).toBeLessThanOrEqual(5_000);
    expect(iam.calls.getOperation - reads).toBe(clock.waits.length);
    expect(clock.waits.length).toBeGreaterThan(3);
  });

  it('a failing read of the operation is the read error, retried like any outage', async () => {
    iam.operateNext({ polls: 1 });
    iam.failNext('getOperation', 503);
    const failure = await failureOf(client(steppedClock()).putJwks(provider, next, undefined));
    expect(failure.kind).toBe('unavailable');
    expect(failure.message).toMatch(/503 UNAVAILABLE: injected/);
  });
});

describe('IamProviderClient.putJwks: hostile operation answers', () => {
  const prefix = `${provider.path}/operations`;
  const pending = { name: `${prefix}/op-1`, done: false };
  it.each([
    ['not JSON', [new Response('<html>ok</html>', { status: 200 })], /not Google's JSON/],
    ['JSON that is not an object', [Response.json([1, 2])], /not a long-running operation/],
    ['no name', [Response.json({ done: true, response: {} })], /not a long-running operation/],
    ['a name that is not a string', [Response.json({ name: 7, done: false })], /no "name"/],
    [
      'a name with path traversal',
      [Response.json({ name: `${prefix}/../../../../admin`, done: false })],
      /operation ".*\/operations\/\.\.\/\.\.\/\.\.\/\.\.\/admin", which is not an operation of that provider/,
    ],
    [
      'a name climbing out with ..',
      [Response.json({ name: `${prefix}/..`, done: false })],
      /which is not an operation of that provider/,
    ],
    [
      "another provider's operation",
      [
        Response.json({
          name: 'projects/1/locations/global/workloadIdentityPools/p/providers/other/operations/op-1',
          done: false,
        }),
      ],
      /which is not an operation of that provider/,
    ],
    [
      'a name with a query',
      [Response.json({ name: `${prefix}/op-1?alt=media`, done: false })],
      /which is not an operation of that provider/,
    ],
    [
      'done with neither response nor error',
      [Response.json({ name: `${prefix}/op-1`, done: true })],
      /done but with neither "response" nor "error"/,
    ],
    [
      'a read of the operation naming another operation',
      [Response.json(pending), Response.json({ name: `${prefix}/op-2`, done: true, response: {} })],
      /which is not the operation it started/,
    ],
    [
      'a read of the operation that is done with neither',
      [Response.json(pending), Response.json({ name: `${prefix}/op-1`, done: true })],
      /neither "response" nor "error"/,
    ],
  ])(
    '%s is refused with a clear message, nothing read from it',
    async (_name, answers, message) => {
      const urls: string[] = [];
      const queue = [...answers];
      const client = new IamProviderClient({
        iamUrl: 'https://iam.example',
        accessToken: async () => TOKEN,
        fetch: async (url) => {
          urls.push(String(url));
          const answer = queue.shift();
          if (!answer) throw new Error(`unexpected request to ${String(url)}`);
          return answer;
        },
        sleep: async () => {},
        now: () => 0,
      });
      const err = await client.putJwks(provider, '{"keys":[]}', undefined).catch((e: unknown) => e);
      const failure = providerFailure(err, provider) as SyncFailure;
      expect(failure).toBeInstanceOf(SyncFailure);
      expect(failure.kind).toBe('unavailable');
      expect(failure.message).toMatch(message);
      expect(failure.message.length).toBeLessThan(800);
      expect(urls).toHaveLength(answers.length);
      expect(urls.every((url) => url.startsWith(`https://iam.example/v1/${provider.path}`))).toBe(
        true,
      );
    },
  );
});
