import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import { explainIamError, explainStsError } from '../../src/whoami/explain.js';
import { whoami } from '../../src/whoami/whoami.js';
import { generateClusterKey, signKubeToken } from '../support/keys.js';
import { tempDir } from '../support/serve.js';

const provider = parseProvider(
  'projects/123/locations/global/workloadIdentityPools/idbridge/providers/idbridge-c1',
);

/** Issue #11, item 7: whoami says who answered, and does not call a DNS failure transient. */
describe("whoami: the broker's own answers and DNS failures", () => {
  it('labels the broker\'s own 503 as the broker\'s, not "Google said"', () => {
    const body = {
      error: 'temporarily_unavailable',
      error_description:
        "Google STS cannot be reached (ECONNREFUSED); check the broker's route to Google",
    };
    const sts = explainStsError(503, body, {
      audience: provider.audience,
      provider,
      tokenUrl: 'https://broker.internal:8443/v1/token',
    });
    expect(sts.summary).toBe(
      'the idbridge broker at https://broker.internal:8443 answered HTTP 503',
    );
    expect(sts.details![0]).toMatch(
      /^the broker \(https:\/\/broker\.internal:8443\) said: 503 temporarily_unavailable/,
    );
    expect(sts.details!.join('\n')).not.toMatch(/Google said/);

    const iam = explainIamError(
      503,
      {
        error: {
          code: 503,
          message:
            "Google IAM Credentials cannot be reached (ECONNREFUSED); check the broker's route to Google",
          status: 'UNAVAILABLE',
        },
      },
      {
        audience: provider.audience,
        tokenUrl: 'https://broker.internal:8443/v1/token',
        url: 'https://broker.internal:8443/v1/projects/-/serviceAccounts/a@p.iam.gserviceaccount.com:generateAccessToken',
      },
    );
    expect(iam.summary).toBe(
      'the idbridge broker at https://broker.internal:8443 answered HTTP 503',
    );
    expect(iam.details![0]).toMatch(
      /^the broker \(https:\/\/broker\.internal:8443\) said: 503 UNAVAILABLE/,
    );
  });

  it("Google's own 503 is still Google's", () => {
    const sts = explainStsError(
      503,
      { error: 'unavailable' },
      { audience: provider.audience, tokenUrl: 'https://sts.googleapis.com/v1/token' },
    );
    expect(sts.details![0]).toMatch(/^Google said: 503/);
  });

  it('a token_url whose host does not resolve is not called transient', async () => {
    const dir = await tempDir();
    try {
      const tokenPath = join(dir.path, 'token');
      await writeFile(
        tokenPath,
        await signKubeToken(generateClusterKey(), {
          issuer: 'https://issuer.example/c1',
          audience: provider.audience,
          namespace: 'apps',
          serviceAccount: 'web',
        }),
      );
      const configPath = join(dir.path, 'config.json');
      await writeFile(
        configPath,
        JSON.stringify(
          externalAccountConfig({
            provider,
            tokenPath,
            format: 'text',
            stsUrl: 'https://broker.example.invalid',
          }),
        ),
      );
      // What undici throws when getaddrinfo answers ENOTFOUND.
      const dnsFailure = async (): Promise<Response> => {
        throw new TypeError('fetch failed', {
          cause: Object.assign(new Error('getaddrinfo ENOTFOUND broker.example.invalid'), {
            code: 'ENOTFOUND',
          }),
        });
      };
      const result = await whoami(
        { credentialsPath: configPath },
        {
          readFile: (path) => readFile(path, 'utf8'),
          fetch: dnsFailure,
          timeoutMs: 1000,
          clock: () => 0,
          now: Date.now,
        },
      );
      const exchange = result.checks.find((check) => check.id === 'exchange')!;
      expect(exchange.verdict).toBe('fail');
      expect(exchange.summary).toMatch(/does not resolve \(DNS\)/);
      expect(exchange.fix).toMatch(
        /does not exist in DNS \(not a transient failure\): check the URL/,
      );
    } finally {
      await dir.remove();
    }
  });
});
