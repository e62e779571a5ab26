import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gcloud } from '../support/gcloud.js';
import { REPO_ROOT } from '../support/serve.js';
import {
  GSA,
  startMetadataWorld,
  type MetadataWorld,
  type SpawnedMetadataServer,
} from './world.js';

/**
 * Real clients as judges: Google's own libraries and gcloud find the metadata server through the
 * environment variables the webhook sets, with no credential file, and get the pod's tokens.
 * Each runs in its own process with only the environment a pod container would have.
 */
interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
        timeout: 60_000,
      },
      (error, stdout, stderr) => {
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : 1) : 0,
          stdout: stdout.trim(),
          stderr,
        });
      },
    );
  });
}

const NODE_CLIENTS = `
import { GoogleAuth } from 'google-auth-library';
import * as gcpMetadata from 'gcp-metadata';
const auth = new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
const client = await auth.getClient();
const token = await auth.getAccessToken();
const idClient = await auth.getIdTokenClient('https://svc.example.com');
const headers = await idClient.getRequestHeaders();
const authorization = typeof headers.get === 'function' ? headers.get('authorization') : headers.Authorization;
const available = await gcpMetadata.isAvailable();
const project = await gcpMetadata.project('project-id');
const email = (await auth.getCredentials()).client_email;
console.log(JSON.stringify({ client: client.constructor.name, token, authorization, available, project, email }));
`;

const PYTHON_CLIENTS = `
import json
import google.auth.transport.requests
from google.auth import compute_engine
request = google.auth.transport.requests.Request()
credentials = compute_engine.Credentials()
credentials.refresh(request)
ids = compute_engine.IDTokenCredentials(request, "https://svc.example.com", use_metadata_identity_endpoint=True)
ids.refresh(request)
print(json.dumps({"token": credentials.token, "email": credentials.service_account_email, "id": ids.token, "valid": credentials.valid}))
`;

describe('metadata server, driven by real Google clients', () => {
  let world: MetadataWorld;
  let server: SpawnedMetadataServer;
  let home: string;
  beforeAll(async () => {
    world = await startMetadataWorld();
    server = await world.sidecar('web', { gsa: GSA });
    home = await mkdtemp(join(world.dir, 'home-'));
  });
  afterAll(() => world?.close());

  it('google-auth-library (GCE_METADATA_HOST, no credential file): a Compute client, an access token, an ID token; gcp-metadata isAvailable and project-id', async () => {
    const result = await run(process.execPath, ['--input-type=module', '-e', NODE_CLIENTS], {
      HOME: home,
      GCE_METADATA_HOST: server.hostPort,
    });
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout) as {
      client: string;
      token: string;
      authorization: string;
      available: boolean;
      project: string;
      email: string;
    };
    expect(out.client).toBe('Compute');
    expect(out.token).toMatch(/^ya29\.sa\./);
    expect(out.authorization).toMatch(/^Bearer ey/);
    expect(decodeJwt(out.authorization.slice('Bearer '.length))).toMatchObject({
      aud: 'https://svc.example.com',
      email: GSA,
    });
    expect(out.available).toBe(true);
    expect(out.project).toBe('proj-abc12');
    expect(out.email).toBe(GSA);
  });

  it('gcloud with only GCE_METADATA_ROOT: print-access-token, and config list account shows the email', async () => {
    const env = { GCE_METADATA_ROOT: server.hostPort };
    const token = await gcloud(['auth', 'print-access-token'], undefined, env);
    expect(token.stderr).toBe('');
    expect(token.stdout).toMatch(/^ya29\.sa\./);
    const account = await gcloud(
      ['config', 'list', 'account', '--format=value(core.account)'],
      undefined,
      env,
    );
    expect(account.stdout).toBe(GSA);
  });

  it("Python google.auth.compute_engine (gcloud's bundled google-auth): Credentials and IDTokenCredentials refresh", async () => {
    const sdk = await run('gcloud', ['info', '--format=value(installation.sdk_root)'], {
      HOME: home,
      CLOUDSDK_CONFIG: home,
    });
    expect(sdk.code).toBe(0);
    const result = await run('python3', ['-S', '-c', PYTHON_CLIENTS], {
      HOME: home,
      PYTHONPATH: join(sdk.stdout, 'lib/third_party'),
      GCE_METADATA_HOST: server.hostPort,
      GCE_METADATA_IP: server.hostPort,
    });
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout) as {
      token: string;
      email: string;
      id: string;
      valid: boolean;
    };
    expect(out.token).toMatch(/^ya29\.sa\./);
    expect(out.email).toBe(GSA);
    expect(out.valid).toBe(true);
    expect(decodeJwt(out.id)).toMatchObject({ aud: 'https://svc.example.com', email: GSA });
  });
});
