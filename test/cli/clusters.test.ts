import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminClient } from '../../src/admin-client/client.js';
import { runCli, type CliResult } from '../support/cli.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { freePort } from '../support/net.js';
import { startServe, tempDir, type ServeHarness } from '../support/serve.js';

describe('idbridge clusters against idbridge serve', () => {
  let server: ServeHarness;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const key = generateClusterKey('RS256');
  const next = generateClusterKey('ES256');
  const outputs: CliResult[] = [];

  /** The CLI with the server's URL and admin token in the environment, as an operator runs it. */
  async function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
    const result = await runCli(['clusters', ...args], {
      IDBRIDGE_API_URL: server.url,
      IDBRIDGE_ADMIN_TOKEN: server.adminToken,
      ...env,
    });
    outputs.push(result);
    return result;
  }

  async function file(name: string, content: unknown): Promise<string> {
    const path = join(dir.path, name);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  }

  beforeAll(async () => {
    server = await startServe();
    dir = await tempDir();
  });
  afterAll(async () => {
    // Whatever happened, the admin token never appeared in any output.
    for (const { stdout, stderr } of outputs)
      expect(`${stdout}${stderr}`).not.toContain(server.adminToken);
    await server?.close();
    await dir?.remove();
  });

  it('create prints the record, the kube-apiserver flags and the next steps', async () => {
    const result = await cli(['create', 'c1', '--jwks', await file('jwks.json', jwksOf(key))]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Registered cluster c1.');
    expect(result.stdout).toContain(`  --service-account-issuer=${server.url}/c1\n`);
    expect(result.stdout).toContain(
      `  --service-account-jwks-uri=${server.url}/c1/openid/v1/jwks\n`,
    );
    expect(result.stdout).toMatch(
      /Next steps:\n  1\. Set the kube-apiserver flags above and restart it\./,
    );
    expect(result.stdout).toContain(`idbridge doctor --cluster c1 --api ${server.url}`);
    expect(result.stdout).toContain(key.kid);
  });

  it("create without keys says to upload them; --json is the API's answer", async () => {
    const result = await cli([
      'create',
      'c2',
      '--sync-subject',
      'system:serviceaccount:ops:sync',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body.cluster).toMatchObject({
      id: 'c2',
      syncSubject: 'system:serviceaccount:ops:sync',
      keys: [],
    });
    expect(body.kubeApiserver.flags[0]).toBe(`--service-account-issuer=${server.url}/c2`);
    expect(body.next.join(' ')).toMatch(/Upload the cluster's current keys/);
  });

  it('list shows a table, one row per cluster', async () => {
    const result = await cli(['list']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+ISSUER\s+KEYS\s+SYNC SUBJECT\s+VERSION\s+UPDATED$/);
    expect(lines.slice(1).map((line) => line.split(/\s+/).slice(0, 3))).toEqual([
      ['c1', `${server.url}/c1`, '1'],
      ['c2', `${server.url}/c2`, 'none'],
    ]);
  });

  it('get shows the keys; --json the view', async () => {
    const text = await cli(['get', 'c1']);
    expect(text.stdout).toMatch(new RegExp(`${key.kid}\\s+RS256\\s+RSA`));
    expect(text.stdout).toMatch(/Recent key changes:\n.*\n.*registration/);
    const json = JSON.parse((await cli(['get', 'c1', '--json'])).stdout);
    expect(json.cluster).toMatchObject({
      id: 'c1',
      version: 1,
      jwksUrl: `${server.url}/c1/openid/v1/jwks`,
    });
  });

  it('update changes the sync subject, then replaces the keys, conditionally', async () => {
    const subject = await cli([
      'update',
      'c1',
      '--sync-subject',
      'system:serviceaccount:idbridge:sync',
      '--if-version',
      '1',
    ]);
    expect(subject.code, subject.stderr).toBe(0);
    expect(subject.stdout).toBe('Updated cluster c1 (version 2).\n');
    const stale = await cli([
      'update',
      'c1',
      '--jwks',
      await file('next.json', jwksOf(key, next)),
      '--if-version',
      '1',
    ]);
    expect(stale.code).toBe(2);
    expect(stale.stderr).toMatch(/^idbridge: cluster "c1" is at version 2, not 1/);
    const keys = await cli([
      'update',
      'c1',
      '--jwks',
      join(dir.path, 'next.json'),
      '--if-version',
      '2',
    ]);
    expect(keys.code, keys.stderr).toBe(0);
    expect(keys.stdout).toContain(`keys added: ${next.kid}; removed: none (version 3)`);
    const served = (await (await fetch(`${server.url}/c1/openid/v1/jwks`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    expect(served.keys.map((k) => k.kid).sort()).toEqual([key.kid, next.kid].sort());
  });

  it('delete removes the cluster and its documents', async () => {
    const result = await cli(['delete', 'c2']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Deleted cluster c2');
    const gone = await cli(['get', 'c2']);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/no cluster "c2" is registered/);
    expect((await fetch(`${server.url}/c2/.well-known/openid-configuration`)).status).toBe(404);
  });

  // Each refusal is its own process: they run side by side.
  it.concurrent.each([
    [
      'a wrong admin token',
      ['list'],
      { IDBRIDGE_ADMIN_TOKEN: 'wrong-token-abcdefghijklmnop' },
      /admin token is wrong/,
    ],
    [
      'no admin token',
      ['list'],
      { IDBRIDGE_ADMIN_TOKEN: '' },
      /no admin token: set IDBRIDGE_ADMIN_TOKEN/,
    ],
    [
      'a cluster id that is not a DNS label',
      ['create', 'Bad_Id'],
      {},
      /cluster id "Bad_Id" is not a DNS label/,
    ],
    ['a reserved id', ['create', 'api'], {}, /reserved/],
    [
      'a JWKS file that is not JSON',
      ['create', 'c3', '--jwks', '/dev/null'],
      {},
      /--jwks: \/dev\/null is not JSON .*kubectl get --raw/,
    ],
    [
      'a JWKS file that does not exist',
      ['create', 'c3', '--jwks', '/nonexistent/jwks.json'],
      {},
      /cannot read \/nonexistent\/jwks\.json: ENOENT/,
    ],
    [
      'a bad sync subject',
      ['create', 'c3', '--sync-subject', 'admin'],
      {},
      /syncSubject: must be a ServiceAccount subject/,
    ],
    ['an update with nothing to change', ['update', 'c1'], {}, /nothing to update/],
    [
      '--if-version that is not a number',
      ['delete', 'c1', '--if-version', 'latest'],
      {},
      /--if-version must be a version number/,
    ],
    ['an unknown flag', ['list', '--colour'], {}, /unknown option '--colour'/],
    ['a missing argument', ['get'], {}, /missing required argument 'id'/],
    [
      'plain http to another host',
      ['list'],
      { IDBRIDGE_API_URL: 'http://idbridge.internal:8787' },
      /plain http outside this machine/,
    ],
  ])('refuses %s with exit 2 and a message on stderr', async (_name, args, env, message) => {
    const result = await cli(args, env);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toContain('wrong-token-abcdefghijklmnop');
  });

  it("the API refusing a JWKS with private key material: exit 2, the API's message, nothing stored", async () => {
    const leaked = {
      keys: [
        {
          ...(key.privateKey.export({ format: 'jwk' }) as object),
          kid: 'leaked',
          use: 'sig',
          alg: 'RS256',
        },
      ],
    };
    const result = await cli(['create', 'c3', '--jwks', await file('leaked.json', leaked)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/private key material/);
    expect(result.stderr).not.toMatch(/"d":/);
    expect((await cli(['get', 'c3'])).code).toBe(2);
  });

  it('an unreachable API exits 1 (could not complete) and names the URL', async () => {
    const api = `http://127.0.0.1:${await freePort()}`;
    const result = await cli(['list'], { IDBRIDGE_API_URL: api });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `idbridge: cannot reach the registration API at ${api}: connection refused (nothing listens there)\n`,
    );
  });

  it('the client follows pages until the last one', async () => {
    const client = new AdminClient({ api: server.url, token: server.adminToken });
    for (const id of ['p1', 'p2', 'p3']) await client.create({ id });
    expect((await client.list(2)).map((c) => c.id)).toEqual(['c1', 'p1', 'p2', 'p3']);
  });
});
