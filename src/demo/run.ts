import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { newKey, StandInApiserver } from './stand-in-apiserver.js';

/**
 * `npm run demo`: the whole loop on a laptop, no cluster. The real `idbridge serve --tls=local`
 * and `idbridge sync` run as processes; a stand-in kube-apiserver plays the cluster. Register,
 * sync, rotate a key, and watch the published JWKS change. Everything lives in a temporary
 * directory that is removed at the end.
 */
const BIN = resolve(import.meta.dirname, '../../../bin/idbridge.js');
const SYNC_NS = 'idbridge-sync';

function say(text: string): void {
  process.stdout.write(`\n== ${text}\n`);
}

/** Runs the idbridge CLI, its output shown indented; fails the demo on a non-zero exit. */
function idbridge(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) =>
      process.stdout.write(chunk.toString().replace(/^/gm, '   ')),
    );
    child.once('close', (code) =>
      code === 0
        ? resolvePromise(out)
        : reject(new Error(`idbridge ${args[0]} exited with ${code}:\n${out}`)),
    );
  });
}

/** GET over HTTPS trusting exactly `ca`: how a careful client reads the issuer. */
function getJson(url: string, ca: string): Promise<{ keys: Array<{ kid: string }> }> {
  return new Promise((resolvePromise, reject) => {
    request(url, { ca }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () =>
        res.statusCode === 200
          ? resolvePromise(JSON.parse(body))
          : reject(new Error(`${url}: ${res.statusCode} ${body}`)),
      );
    })
      .on('error', reject)
      .end();
  });
}

async function startServe(
  dir: string,
  adminToken: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--tls=local', '--port=0', `--store=file:${join(dir, 'data')}`],
    {
      env: { ...process.env, IDBRIDGE_ADMIN_TOKEN: adminToken },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stderr.on('data', (chunk: Buffer) =>
    process.stdout.write(chunk.toString().replace(/^/gm, '   ')),
  );
  const url = await new Promise<string>((resolvePromise, reject) => {
    let seen = '';
    // serve logs JSON lines on stdout; the demo only needs the "listening" one.
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /"url":"(https:\/\/127\.0\.0\.1:\d+)"/.exec(seen);
      if (match) resolvePromise(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`idbridge serve exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise((resolveStop) => {
        child.once('exit', () => resolveStop());
        child.kill('SIGTERM');
      }),
  };
}

async function demo(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'idbridge-demo-'));
  const adminToken = randomBytes(24).toString('base64url');
  let serve: { url: string; stop(): Promise<void> } | undefined;
  let apiserver: StandInApiserver | undefined;
  try {
    say(
      '1. idbridge serve --tls=local (HTTPS with a local CA: kube-apiserver refuses http:// issuers)',
    );
    serve = await startServe(dir, adminToken);
    const ca = join(dir, 'data', 'tls', 'ca.crt');
    const trust = { NODE_EXTRA_CA_CERTS: ca, IDBRIDGE_ADMIN_TOKEN: adminToken };
    const issuer = `${serve.url}/demo`;

    say(`2. a stand-in kube-apiserver with its own CA, --service-account-issuer=${issuer}`);
    apiserver = await StandInApiserver.start({ issuer, tlsDir: join(dir, 'apiserver-tls') });
    const kubeconfig = join(dir, 'kubeconfig');
    await writeFile(kubeconfig, apiserver.kubeconfig(), { mode: 0o600 });
    const jwksFile = join(dir, 'jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: apiserver.keys.map((k) => k.jwk) }));

    say('3. idbridge clusters create demo --jwks jwks.json');
    process.stdout.write(
      (
        await idbridge(
          ['clusters', 'create', 'demo', '--api', serve.url, '--jwks', jwksFile],
          trust,
        )
      ).replace(/^/gm, '   '),
    );

    const tokenFile = join(dir, 'sync-token');
    const sync = async () => {
      // What kubelet does for the sync pod: a fresh projected token, audience = idbridge's URL.
      await writeFile(tokenFile, await apiserver!.token(SYNC_NS, 'idbridge-sync', serve!.url), {
        mode: 0o600,
      });
      await idbridge(
        [
          'sync',
          '--once',
          '--api',
          serve!.url,
          '--cluster',
          'demo',
          '--token-file',
          tokenFile,
          '--kubeconfig',
          kubeconfig,
        ],
        trust,
      );
    };
    const caPem = await readFile(ca, 'utf8');
    const published = async () =>
      (await getJson(`${issuer}/openid/v1/jwks`, caPem)).keys.map((k) => k.kid);

    say('4. idbridge sync --once');
    await sync();
    process.stdout.write(`   published kids: ${(await published()).join(', ')}\n`);

    say('5. rotate: publish a new key first, sync, then sign with it and drop the old one');
    const next = await newKey();
    const old = apiserver.signing;
    apiserver.keys = [old, next];
    await sync();
    const both = await published();
    process.stdout.write(`   published kids: ${both.join(', ')}\n`);
    apiserver.signing = next;
    await sync();
    apiserver.keys = [next];
    await sync();
    const after = await published();
    process.stdout.write(`   published kids: ${after.join(', ')}\n`);
    if (!(both.length === 2 && after.length === 1 && after[0] === next.kid))
      throw new Error('the published JWKS did not follow the rotation');

    say(
      'done: registered, synced, rotated, and the JWKS followed. Try it with a real cluster: README, "Walk-through".',
    );
  } finally {
    await apiserver?.close();
    await serve?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

demo().then(
  () => {
    process.exitCode = 0;
  },
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
