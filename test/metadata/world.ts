import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { request, type Agent } from 'node:http';
import { join } from 'node:path';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import {
  principalFor,
  startFakeGoogle,
  type FakeGoogle,
  type FakeProvider,
} from '../fakes/google.js';
import { generateClusterKey, jwksOf, signKubeToken, type ClusterKey } from '../support/keys.js';
import { freePort } from '../support/net.js';
import {
  IDBRIDGE_BIN,
  registerCluster,
  startServe,
  tempDir,
  type ServeHarness,
} from '../support/serve.js';

/**
 * A pod's world for the metadata server: the project's own issuer (idbridge serve, cluster c1),
 * the fake Google validating subject tokens through it over HTTP, a projected token file signed
 * by the cluster's key, and credential configurations as the webhook renders them.
 */
export const PROVIDER =
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/idbridge-c1';
export const GSA = 'app@proj-abc12.iam.gserviceaccount.com';
export const UNBOUND_GSA = 'unbound@proj-abc12.iam.gserviceaccount.com';
/** The header every metadata client sends. */
export const FLAVOR = { 'metadata-flavor': 'Google' };

export interface MetadataWorld {
  google: FakeGoogle;
  issuer: ServeHarness;
  key: ClusterKey;
  dir: string;
  provider: FakeProvider;
  /** Writes a fresh projected token for apps/NAME to `file` (default the world's token file). */
  writeToken(name?: string, file?: string): Promise<string>;
  tokenFile: string;
  /** A credential configuration impersonating `gsa` (or direct access), written under the world's dir. */
  credentialConfig(name: string, gsa?: string, tokenFile?: string): Promise<string>;
  /**
   * A metadata server for `credentialConfig(name, gsa)`, started with `args` after its
   * `--credential-config`; `close` stops it.
   */
  sidecar(name: string, options?: SidecarOptions): Promise<SpawnedMetadataServer>;
  /** Stops the sidecars, then the issuer and the fake Google, and removes the files. */
  close(): Promise<void>;
}

export interface SidecarOptions {
  /** The Google service account to impersonate; none is direct access. */
  gsa?: string;
  args?: string[];
  env?: Record<string, string>;
}

export async function startMetadataWorld(): Promise<MetadataWorld> {
  const temp = await tempDir('idbridge-metadata-');
  const key = generateClusterKey('RS256');
  const google = await startFakeGoogle();
  const issuer = await startServe();
  await registerCluster(issuer, 'c1', jwksOf(key));
  const provider: FakeProvider = { path: PROVIDER, issuerUri: `${issuer.url}/c1` };
  google.providers.push(provider);
  google.serviceAccounts.push(
    {
      email: GSA,
      workloadIdentityUsers: [principalFor(provider, 'system:serviceaccount:apps:web')],
    },
    { email: UNBOUND_GSA, workloadIdentityUsers: [] },
  );
  const tokenFile = join(temp.path, 'token');
  const writeToken = async (name = 'web', file = tokenFile): Promise<string> => {
    const token = await signKubeToken(key, {
      issuer: `${issuer.url}/c1`,
      audience: `//iam.googleapis.com/${PROVIDER}`,
      namespace: 'apps',
      serviceAccount: name,
    });
    await writeFile(file, token);
    return token;
  };
  await writeToken();
  const credentialConfig = async (name: string, gsa?: string, file = tokenFile) => {
    const config = externalAccountConfig({
      provider: parseProvider(PROVIDER),
      tokenPath: file,
      stsUrl: google.url,
      iamCredentialsUrl: google.url,
      ...(gsa ? { serviceAccountEmail: gsa } : {}),
    });
    const path = join(temp.path, `${name}.json`);
    await writeFile(path, JSON.stringify(config));
    return path;
  };
  const sidecars: SpawnedMetadataServer[] = [];
  return {
    google,
    issuer,
    key,
    dir: temp.path,
    provider,
    writeToken,
    tokenFile,
    credentialConfig,
    async sidecar(name, { gsa, args = [], env = {} } = {}) {
      const server = await spawnMetadataServer(
        ['--credential-config', await credentialConfig(name, gsa), ...args],
        env,
      );
      sidecars.push(server);
      return server;
    },
    async close() {
      for (const server of sidecars.splice(0)) await server.stop();
      await issuer.close();
      await google.close();
      await temp.remove();
    },
  };
}

export interface SpawnedMetadataServer {
  url: string;
  /** host:port, as GCE_METADATA_HOST wants it. */
  hostPort: string;
  child: ChildProcess;
  stdout: () => string;
  stop(): Promise<number | null>;
}

/** The real `bin/idbridge.js metadata-server` as a child process (needs `npm run build`). */
export async function spawnMetadataServer(
  args: string[],
  env: Record<string, string> = {},
): Promise<SpawnedMetadataServer> {
  const port = String(await freePort());
  const child = spawn(
    process.execPath,
    [IDBRIDGE_BIN, 'metadata-server', '--port', port, ...args],
    {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /"msg":"listening","url":"([^"]+)"/.exec(stdout);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) =>
      reject(new Error(`metadata-server exited with ${code}: ${stderr}`)),
    );
  });
  const exited = new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  return {
    url,
    hostPort: url.replace(/^http:\/\//, ''),
    child,
    stdout: () => stdout,
    stop: async () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

/** GET with the header every metadata client sends. */
export function metadataGet(
  url: string,
  headers: Record<string, string> = FLAVOR,
): Promise<Response> {
  return fetch(url, { headers, redirect: 'manual' });
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/**
 * Raw node:http, so nothing (fetch's header rules, redirects) changes what is sent or read: GET
 * with Metadata-Flavor unless the request says otherwise.
 */
export function send(
  base: string,
  req: { method?: string; path: string; headers?: Record<string, string>; agent?: Agent },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      `${base}${req.path}`,
      {
        method: req.method ?? 'GET',
        headers: req.headers ?? FLAVOR,
        ...(req.agent ? { agent: req.agent } : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    outgoing.once('error', reject);
    outgoing.end();
  });
}
