import { execFile } from 'node:child_process';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/net.js';
import { REPO_ROOT } from '../support/serve.js';
import {
  GSA,
  send,
  spawnMetadataServer,
  startMetadataWorld,
  type MetadataWorld,
  type RawAnswer,
  type SpawnedMetadataServer,
} from './world.js';

const TOKEN = '/computeMetadata/v1/instance/service-accounts/default/token';
const get = (base: string, path: string, agent?: Agent) => send(base, { path, agent });

describe('metadata server under load', () => {
  let world: MetadataWorld;
  let server: SpawnedMetadataServer;
  beforeAll(async () => {
    world = await startMetadataWorld();
    server = await world.sidecar('web', { gsa: GSA });
  });
  afterAll(() => world?.close());

  it('1,000 concurrent /token make one exchange and one impersonation; a repeat within the lifetime makes none', async () => {
    // Google answers slowly, so every request arrives while the first upstream call is in flight.
    world.google.setDelay(300);
    const agent = new Agent({ keepAlive: true, maxSockets: 200 });
    try {
      const before = { ...world.google.calls };
      const answers = await Promise.all(
        Array.from({ length: 1_000 }, () => get(server.url, TOKEN, agent)),
      );
      expect(answers.every((a) => a.status === 200)).toBe(true);
      expect(
        new Set(answers.map((a) => (JSON.parse(a.body) as { access_token: string }).access_token))
          .size,
      ).toBe(1);
      expect(world.google.calls.token - before.token).toBe(1);
      expect(world.google.calls.generateAccessToken - before.generateAccessToken).toBe(1);

      const again = await Promise.all(
        Array.from({ length: 1_000 }, () => get(server.url, TOKEN, agent)),
      );
      expect(again.every((a) => a.status === 200)).toBe(true);
      expect(world.google.calls.token - before.token).toBe(1);
      expect(world.google.calls.generateAccessToken - before.generateAccessToken).toBe(1);
    } finally {
      world.google.setDelay(0);
      agent.destroy();
    }
  });
});

describe('metadata server when Google fails', () => {
  let world: MetadataWorld;
  let direct: SpawnedMetadataServer;
  let impersonating: SpawnedMetadataServer;
  let scope = 0;
  /** A scope never asked before, so the cache cannot answer. */
  const freshScopes = () => `?scopes=https://www.googleapis.com/auth/fault-${++scope}`;
  const env = { IDBRIDGE_METADATA_UPSTREAM_ATTEMPTS: '1' };
  // Long enough that a loaded CI machine never turns a fake's 500 into a timeout; the slow-STS
  // case waits it out once.
  const UPSTREAM_TIMEOUT_MS = '2000';

  beforeAll(async () => {
    world = await startMetadataWorld();
    direct = await world.sidecar('direct', {
      args: ['--project-id', 'direct-proj', '--upstream-timeout', UPSTREAM_TIMEOUT_MS],
      env,
    });
    impersonating = await world.sidecar('web', {
      gsa: GSA,
      args: ['--upstream-timeout', UPSTREAM_TIMEOUT_MS],
      env,
    });
  });
  afterAll(() => world?.close());

  function expectCleanRefusal(answer: RawAnswer, status: number): void {
    expect(answer.status).toBe(status);
    expect(answer.headers['metadata-flavor']).toBe('Google');
    expect(answer.headers['content-type']).toBe('application/text');
    expect(answer.headers['retry-after']).toMatch(/^\d+$/);
    expect(answer.body).not.toMatch(/ya29|eyJ/);
  }

  it('STS down: 503 with Retry-After naming the route', async () => {
    const port = await freePort();
    const config = await world.credentialConfig('down');
    const { readFile, writeFile } = await import('node:fs/promises');
    const broken = JSON.parse(await readFile(config, 'utf8')) as Record<string, unknown>;
    await writeFile(
      config,
      JSON.stringify({ ...broken, token_url: `http://127.0.0.1:${port}/v1/token` }),
    );
    const down = await spawnMetadataServer(
      ['--credential-config', config, '--project-id', 'direct-proj'],
      env,
    );
    try {
      const answer = await get(down.url, TOKEN);
      expectCleanRefusal(answer, 503);
      expect(answer.body).toMatch(/cannot be reached \(ECONNREFUSED\)/);
    } finally {
      await down.stop();
    }
  });

  it('STS 500: 503 with Retry-After; the next request succeeds', async () => {
    const scopes = freshScopes();
    world.google.failNext('token', {
      status: 500,
      body: JSON.stringify({ error: 'server_error', error_description: 'backend error' }),
    });
    const answer = await get(direct.url, `${TOKEN}${scopes}`);
    expectCleanRefusal(answer, 503);
    expect(answer.body).toMatch(/Google answered 500 \(server_error: backend error\)/);
    expect((await get(direct.url, `${TOKEN}${scopes}`)).status).toBe(200);
  });

  it("IAM Credentials 429: 429 with Google's Retry-After", async () => {
    world.google.failNext('generateAccessToken', {
      status: 429,
      body: JSON.stringify({
        error: { code: 429, message: 'Quota exceeded', status: 'RESOURCE_EXHAUSTED' },
      }),
      headers: { 'retry-after': '7' },
    });
    const answer = await get(impersonating.url, `${TOKEN}${freshScopes()}`);
    expectCleanRefusal(answer, 429);
    expect(answer.headers['retry-after']).toBe('7');
    expect(answer.body).toMatch(/RESOURCE_EXHAUSTED: Quota exceeded/);
  });

  it('slow STS: 503 after the upstream timeout, naming the setting', async () => {
    world.google.failNext('token', 'hang');
    const answer = await get(direct.url, `${TOKEN}${freshScopes()}`);
    expectCleanRefusal(answer, 503);
    expect(answer.body).toMatch(
      /did not answer within 2000 ms \(IDBRIDGE_METADATA_UPSTREAM_TIMEOUT_MS\)/,
    );
  });

  it('garbled STS answer: 503, not a crash; the server keeps answering', async () => {
    world.google.failNext('token', 'malformed');
    expectCleanRefusal(await get(direct.url, `${TOKEN}${freshScopes()}`), 503);
    expect((await get(direct.url, '/computeMetadata/v1/project/project-id')).body).toBe(
      'direct-proj',
    );
  });

  it('a client retries them: Python google-auth gets its token through two 500s', async () => {
    const sdk = await new Promise<string>((resolve) =>
      execFile(
        'gcloud',
        ['info', '--format=value(installation.sdk_root)'],
        { env: { PATH: process.env.PATH ?? '', HOME: world.dir, CLOUDSDK_CONFIG: world.dir } },
        (_e, out) => resolve(out.trim()),
      ),
    );
    world.google.failNext('generateAccessToken', { status: 500 }, 2);
    const before = world.google.calls.generateAccessToken;
    const script =
      'import google.auth.transport.requests\nfrom google.auth import compute_engine\nc = compute_engine.Credentials(scopes=["https://www.googleapis.com/auth/retry"])\nc.refresh(google.auth.transport.requests.Request())\nprint(c.token)';
    const out = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
      execFile(
        'python3',
        ['-S', '-c', script],
        {
          cwd: REPO_ROOT,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: world.dir,
            PYTHONPATH: join(sdk, 'lib/third_party'),
            GCE_METADATA_HOST: impersonating.hostPort,
            GCE_METADATA_IP: impersonating.hostPort,
          },
          timeout: 60_000,
        },
        (_e, stdout, stderr) => resolve({ stdout: stdout.trim(), stderr }),
      ),
    );
    expect(out.stdout).toMatch(/^ya29\.sa\./);
    expect(world.google.calls.generateAccessToken - before).toBe(3);
  });
});
