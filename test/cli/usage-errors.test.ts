import { createServer } from 'node:net';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

/**
 * Issue #11, item 7: usage errors exit 2 with one line "idbridge: …" on stderr that names the flag.
 * The real bin/idbridge.js (needs `npm run build`).
 */
describe('CLI usage errors', () => {
  it.each([
    [['frobnicate'], /^idbridge: unknown command 'frobnicate'/, 'frobnicate'],
    [['clusters', 'list', '--bogus'], /^idbridge: unknown option '--bogus'/, '--bogus'],
    [
      ['gcp-setup', '--issuer=https://e.example/c1'],
      /^idbridge: required option '--project-number <number>' not specified/,
      '--project-number',
    ],
    [['serve', '--port', '99999'], /^idbridge: invalid configuration: --port \(PORT\): /, '--port'],
    [
      ['serve', '--tls', 'sometimes'],
      /^idbridge: invalid configuration: --tls \(IDBRIDGE_TLS\): /,
      '--tls',
    ],
    [
      ['clusters', 'list', '--api', 'notaurl', '--admin-token', 'usage-test-token-0123456789'],
      /^idbridge: --api: "notaurl" is not an absolute URL/,
      '--api',
    ],
    [
      ['sync', '--api', 'http://127.0.0.1:1', '--token-file', '/t'],
      /^idbridge sync: --cluster ID is required/,
      '--cluster',
    ],
    [
      [
        'sync',
        '--cluster',
        'c1',
        '--api',
        'http://127.0.0.1:1',
        '--token-file',
        '/t',
        '--interval',
        'soon',
      ],
      /^idbridge sync: --interval must be a duration/,
      '--interval',
    ],
    [
      [
        'sync',
        '--cluster',
        'c1',
        '--api',
        'http://127.0.0.1:1',
        '--token-file',
        '/t',
        '--target',
        'gcs://bucket/issuers',
      ],
      /^idbridge sync: use either --api .* or --target gcs:\/\/BUCKET\/PREFIX .*, not both; only --target wif-provider:\/\/… goes with --api/,
      '--api',
    ],
    [
      [
        'sync',
        '--cluster',
        'c1',
        '--api',
        'http://127.0.0.1:1',
        '--target',
        'wif-provider://projects/123456/locations/global/workloadIdentityPools/fleet/providers/private-c1',
      ],
      /^idbridge sync: --token-file is required with --api/,
      '--token-file',
    ],
    [
      [
        'sync',
        '--cluster',
        'c1',
        '--api',
        'http://127.0.0.1:1',
        '--token-file',
        '/t',
        '--target',
        'wif-provider://projects/123456/locations/global/workloadIdentityPools/fleet',
      ],
      /^idbridge sync: --target .* names a pool, not a provider/,
      '--target',
    ],
  ])('%j → exit 2, one line naming the flag', async (args, firstLine, flag) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(firstLine);
    expect(lines[0]).toContain(flag);
  });

  it('sync checks its flags before it reads the kubeconfig', async () => {
    const result = await runCli([
      'sync',
      '--kubeconfig',
      '/nonexistent/kubeconfig',
      '--api',
      'http://127.0.0.1:1',
      '--token-file',
      '/t',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--cluster ID is required/);
    expect(result.stderr).not.toMatch(/kubeconfig/);
  });

  it('a busy port is a clear refusal, and no admin token is generated or printed', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const dir = await mkdtemp(join(tmpdir(), 'idbridge-busy-'));
    try {
      const result = await runCli(['serve', '--port', String(port), '--store', `file:${dir}`]);
      expect(result.code).toBe(2);
      expect(result.stderr.trimEnd().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(`^idbridge: port ${port} on 127\\.0\\.0\\.1 is already in use.*--port`),
        ),
      ]);
      expect(result.stderr).not.toMatch(/admin token/);
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
