import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadWebhookConfig } from '../../src/webhook/config.js';
import { IDBRIDGE_BIN } from '../support/serve.js';

describe('webhook configuration', () => {
  it('has defaults that need nothing but the mounted certificate', () => {
    const config = loadWebhookConfig({});
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 9443,
      tls: {
        certFile: '/etc/idbridge-webhook/tls/tls.crt',
        keyFile: '/etc/idbridge-webhook/tls/tls.key',
        minVersion: 'TLSv1.2',
        reloadIntervalMs: 60_000,
      },
      defaults: {
        annotationPrefix: 'cloud.google.com/',
        tokenExpirationSeconds: 86_400,
        tokenLifetimeSeconds: 3600,
      },
      mutation: { annotationPrefix: 'cloud.google.com/', fileMode: 0o644, overwriteEnv: false },
      missingServiceAccount: 'admit',
    });
    expect(config.kubeconfig).toBeUndefined();
    expect(config.defaults.provider).toBeUndefined();
  });

  it('treats an empty variable as unset, and lets flags override variables', () => {
    const config = loadWebhookConfig(
      { IDBRIDGE_WEBHOOK_PORT: '', IDBRIDGE_WEBHOOK_TOKEN_URL: '' },
      { IDBRIDGE_WEBHOOK_ANNOTATION_PREFIX: 'wif.example.com/' },
    );
    expect(config.port).toBe(9443);
    expect(config.defaults.brokerUrl).toBeUndefined();
    expect(config.defaults.annotationPrefix).toBe('wif.example.com/');
  });

  it('checks the broker token_url once, at startup, and keeps its base', () => {
    expect(
      loadWebhookConfig({
        IDBRIDGE_WEBHOOK_TOKEN_URL: 'https://broker.example.com/idbridge/v1/token',
      }).defaults.brokerUrl,
    ).toBe('https://broker.example.com/idbridge');
  });

  const refused: Array<[string, Record<string, string>, RegExp]> = [
    ['a port out of range', { IDBRIDGE_WEBHOOK_PORT: '70000' }, /IDBRIDGE_WEBHOOK_PORT/],
    [
      'TLS 1.0',
      { IDBRIDGE_WEBHOOK_TLS_MIN_VERSION: 'TLSv1' },
      /IDBRIDGE_WEBHOOK_TLS_MIN_VERSION: must be TLSv1\.2 or TLSv1\.3/,
    ],
    [
      'a provider named by project id',
      {
        IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER:
          'projects/my-proj/locations/global/workloadIdentityPools/p/providers/q',
      },
      /IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER: .*project NUMBER/,
    ],
    [
      'a token_url that is not the STS path',
      { IDBRIDGE_WEBHOOK_TOKEN_URL: 'https://broker.example.com/token' },
      /IDBRIDGE_WEBHOOK_TOKEN_URL: must end in \/v1\/token/,
    ],
    [
      'an expiration Google would refuse',
      { IDBRIDGE_WEBHOOK_TOKEN_EXPIRATION: '172800' },
      /IDBRIDGE_WEBHOOK_TOKEN_EXPIRATION/,
    ],
    [
      'an impersonated lifetime over 12 h',
      { IDBRIDGE_WEBHOOK_TOKEN_LIFETIME: '50000' },
      /IDBRIDGE_WEBHOOK_TOKEN_LIFETIME/,
    ],
    [
      'a file mode that is not octal',
      { IDBRIDGE_WEBHOOK_FILE_MODE: '0999' },
      /IDBRIDGE_WEBHOOK_FILE_MODE: must be an octal mode/,
    ],
    [
      'an unknown missing-ServiceAccount action',
      { IDBRIDGE_WEBHOOK_MISSING_SERVICE_ACCOUNT: 'ignore' },
      /must be admit or deny/,
    ],
    [
      'an annotation prefix with spaces',
      { IDBRIDGE_WEBHOOK_ANNOTATION_PREFIX: 'cloud google' },
      /IDBRIDGE_WEBHOOK_ANNOTATION_PREFIX: must be a DNS subdomain/,
    ],
    [
      'a region that is not one',
      { IDBRIDGE_WEBHOOK_DEFAULT_REGION: 'Europe West' },
      /IDBRIDGE_WEBHOOK_DEFAULT_REGION/,
    ],
  ];
  for (const [name, env, message] of refused) {
    it(`refuses ${name}, naming the variable`, () => {
      expect(() => loadWebhookConfig(env)).toThrow(message);
    });
  }

  it('`idbridge webhook` with a bad flag exits 2 with one line saying what to fix', async () => {
    const result = await promisify(execFile)(
      process.execPath,
      [IDBRIDGE_BIN, 'webhook', '--tls-min-version', 'TLSv1.1'],
      { env: { PATH: process.env.PATH ?? '' } },
    ).catch((err: { code: number; stderr: string }) => err);
    expect(result).toMatchObject({ code: 2 });
    expect((result as { stderr: string }).stderr).toMatch(
      /^idbridge: invalid webhook configuration: IDBRIDGE_WEBHOOK_TLS_MIN_VERSION: must be TLSv1\.2 or TLSv1\.3\n$/,
    );
  });

  it('`idbridge webhook` outside a cluster without --kubeconfig says what to pass', async () => {
    const { makeCertificate } = await import('../support/tls.js');
    const { tempDir } = await import('../support/serve.js');
    const dir = await tempDir();
    try {
      const cert = await makeCertificate(dir.path);
      const run = (extra: string[]) =>
        promisify(execFile)(
          process.execPath,
          [
            IDBRIDGE_BIN,
            'webhook',
            '--host=127.0.0.1',
            '--port=0',
            `--tls-cert-file=${cert.certFile}`,
            `--tls-key-file=${cert.keyFile}`,
            ...extra,
          ],
          { env: { PATH: process.env.PATH ?? '' } },
        ).catch((err: { code: number; stderr: string }) => err);
      expect(await run([])).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(/no in-cluster configuration.*pass --kubeconfig PATH/),
      });
      expect(await run([`--kubeconfig=${dir.path}/missing`])).toMatchObject({
        code: 2,
        stderr: expect.stringMatching(
          /cannot load the kubeconfig .*missing \(ENOENT\); check --kubeconfig/,
        ),
      });
    } finally {
      await dir.remove();
    }
  });

  it('`idbridge webhook --help` lists the flags', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [
      IDBRIDGE_BIN,
      'webhook',
      '--help',
    ]);
    for (const flag of [
      '--port',
      '--tls-cert-file',
      '--tls-key-file',
      '--tls-min-version',
      '--kubeconfig',
      '--annotation-prefix',
      '--default-provider',
      '--token-url',
    ])
      expect(stdout).toContain(flag);
  });
});
