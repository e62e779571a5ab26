import { describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { SyncFailure } from '../../src/sync/failure.js';
import { IamProviderClient } from '../../src/sync/iam-providers.js';
import { providerFailure } from '../../src/sync/wif-provider-target.js';

const provider = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/fleet/providers/private-c1',
);
const TOKEN = 'ya29.secret-access-token-value';

/** The IAM client against hostile answers: each is one clear sync failure, never a crash or a token. */
describe('IamProviderClient and providerFailure: hostile IAM API answers', () => {
  const clientAnswering = (answer: () => Response | Promise<Response>) =>
    new IamProviderClient({
      iamUrl: 'https://iam.example',
      accessToken: async () => TOKEN,
      fetch: async () => answer(),
    });
  const failureOf = async (answer: () => Response | Promise<Response>) => {
    const err = await clientAnswering(answer)
      .get(provider)
      .catch((e: unknown) => e);
    const failure = providerFailure(err, provider);
    expect(failure).toBeInstanceOf(SyncFailure);
    expect((failure as SyncFailure).message).not.toContain(TOKEN);
    return failure as SyncFailure;
  };

  it.each([
    [
      'a 200 that is not JSON',
      () => new Response('<html>proxy</html>', { status: 200 }),
      'unavailable',
      /not Google's JSON/,
    ],
    [
      'a 200 that is not a provider',
      () => Response.json({ hello: 'world' }),
      'unavailable',
      /not a workload identity pool provider/,
    ],
    [
      'a 502 HTML page',
      () => new Response('<h1>Bad gateway</h1>', { status: 502 }),
      'unavailable',
      /502 with a body that is not Google's JSON/,
    ],
    [
      'an answer over 256 KiB',
      () => new Response('x'.repeat(300 * 1024), { status: 200 }),
      'unavailable',
      /more than 256 KiB/,
    ],
    [
      'a Google 400 with its message',
      () =>
        Response.json(
          { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'Bad field.' } },
          { status: 400 },
        ),
      'refused',
      /Google answered the read of provider .* with 400 INVALID_ARGUMENT: Bad field\./,
    ],
    [
      'a Google 401 that quotes a token',
      () =>
        Response.json(
          { error: { code: 401, status: 'UNAUTHENTICATED', message: `bad ${TOKEN}` } },
          { status: 401 },
        ),
      'refused',
      /did not accept the sync job's credentials .* \[token\]/,
    ],
    [
      'a Google 429',
      () =>
        Response.json(
          { error: { code: 429, status: 'RESOURCE_EXHAUSTED', message: 'Quota.' } },
          { status: 429 },
        ),
      'unavailable',
      /429 RESOURCE_EXHAUSTED/,
    ],
    [
      'a network failure',
      () => Promise.reject(new TypeError('fetch failed')),
      'unavailable',
      /cannot reach the IAM API at https:\/\/iam\.example/,
    ],
  ])('%s', async (_name, answer, kind, message) => {
    const failure = await failureOf(answer);
    expect(failure.kind).toBe(kind);
    expect(failure.retryable).toBe(kind === 'unavailable');
    expect(failure.message).toMatch(message);
  });

  it('sends the bearer, the update mask and the etag, then reads the operation until it is done', async () => {
    const seen: Array<{ url: string; init: RequestInit }> = [];
    const op = `${provider.path}/operations/op-7`;
    const answers = [
      { name: op, done: false },
      { name: op, done: true, response: {} },
    ];
    const client = new IamProviderClient({
      iamUrl: 'https://iam.example/',
      accessToken: async () => TOKEN,
      fetch: async (url, init) => {
        seen.push({ url: String(url), init: init! });
        return Response.json(answers.shift());
      },
      sleep: async () => {},
      now: () => 0,
    });
    expect(await client.putJwks(provider, '{"keys":[]}', 'etag-1')).toEqual({
      operation: op,
      polls: 1,
    });
    expect(seen[0]!.url).toBe(`https://iam.example/v1/${provider.path}?updateMask=oidc.jwksJson`);
    expect(seen[0]!.init.method).toBe('PATCH');
    expect((seen[0]!.init.headers as Record<string, string>).authorization).toBe(`Bearer ${TOKEN}`);
    expect(JSON.parse(String(seen[0]!.init.body))).toEqual({
      oidc: { jwksJson: '{"keys":[]}' },
      etag: 'etag-1',
    });
    expect(seen[1]!.url).toBe(`https://iam.example/v1/${op}`);
    expect(seen[1]!.init.method).toBe('GET');
    expect((seen[1]!.init.headers as Record<string, string>).authorization).toBe(`Bearer ${TOKEN}`);
  });
});
