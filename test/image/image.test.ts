import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { externalAccountConfig, parseProvider } from '../../src/credentials/credential-config.js';
import {
  startFakeKubeServiceAccounts,
  type FakeKubeServiceAccounts,
} from '../fakes/kube-serviceaccounts.js';
import { metadataSidecar } from '../../src/webhook/metadata-server.js';
import { LAYOUTS } from '../../src/webhook/pod-mutation.js';
import { freePort } from '../support/net.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { REPO_ROOT, registerCluster, tempDir } from '../support/serve.js';
import { startSyncWorld, type SyncWorld } from '../support/sync.js';
import { httpsRequest, makeCertificate, type TestCertificate } from '../support/tls.js';
import { admissionReview, waitFor } from '../support/webhook.js';

/**
 * The image, built from infra/webhook/Dockerfile with podman and run for real: read-only, as
 * nonroot, offline (both bases come from this machine's Node: scripts/image-base.sh).
 *
 * | case                      | asserts                                                                         |
 * |---------------------------|---------------------------------------------------------------------------------|
 * | image config              | User 65532:65532, entrypoint the idbridge CLI, CMD webhook, OCI labels          |
 * | contents                  | no npm, no shell; node_modules = the SBOM's production deps, no dev deps; size  |
 * | --version                 | package.json's version                                                          |
 * | webhook (read-only)       | AdmissionReview over TLS with mounted certs + kubeconfig; /healthz version; /readyz |
 * | sync --once (read-only)   | against the kube-apiserver fake (HTTPS, its CA in the kubeconfig), pushes to serve on the host |
 * | serve on a volume         | registers a cluster; the record lands in the volume, nothing else written       |
 * | metadata-server           | `--help` exits 0; the sidecar (read-only, 65532) answers /computeMetadata/v1/ and /readyz |
 * | every running container   | process uid/gid 65532 on the host (/proc/PID/status); `podman diff` empty       |
 */

const run = promisify(execFile);
const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
// This machine's cgroups are hybrid and raising rlimits is refused: flags that work on any host.
const RUN_FLAGS = ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const LIMITS = ['--ulimit', 'nofile=4096:4096', '--ulimit', 'nproc=4096:4096'];
const SIZE_GOAL_BYTES = 150 * 1024 * 1024;
// devDependencies no production package needs (the lockfile marks them dev-only): none may reach the image.
const lock = JSON.parse(await readFile(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean; version?: string }>;
};
const DEV_TOOLS = Object.keys(pkg.devDependencies).filter(
  (name) => lock.packages[`node_modules/${name}`]?.dev === true,
);
/** name@version of every package the lockfile installs for development only (at any depth). */
function devOnlyPackages(): Set<string> {
  const of = (path: string, entry: { version?: string }) =>
    `${path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)}@${entry.version}`;
  const entries = Object.entries(lock.packages).filter(([path]) => path.includes('node_modules/'));
  const production = new Set(entries.filter(([, e]) => !e.dev).map(([path, e]) => of(path, e)));
  return new Set(
    entries
      .filter(([, e]) => e.dev)
      .map(([path, e]) => of(path, e))
      .filter((id) => !production.has(id)),
  );
}

/** Why podman cannot build and run images here, or undefined when it can. */
function podmanUnavailable(): string | undefined {
  const info = spawnSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (info.error)
    return `podman is not installed (${(info.error as NodeJS.ErrnoException).code}); .ci/run installs podman, buildah and runc`;
  if (info.status !== 0)
    return `\`podman info\` fails: ${(info.stderr || info.stdout).trim().split('\n').at(-1)}`;
  if (spawnSync('runc', ['--version']).error) return 'runc is not installed';
  return undefined;
}

const unavailable = podmanUnavailable();
const suffix = randomUUID().slice(0, 8);
const IMAGE = `localhost/idbridge-test:${suffix}`;
const BASES = {
  IDBRIDGE_BASE_IMAGE_TAG: `localhost/idbridge-test-base:${suffix}`,
  IDBRIDGE_BUILD_IMAGE_TAG: `localhost/idbridge-test-build:${suffix}`,
};

async function podman(args: string[], timeout = 120_000): Promise<string> {
  const { stdout } = await run('podman', args, { timeout, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** `podman run` of the image, detached, with the machine's flags; resolves to the container id. */
async function start(
  args: string[],
  options: {
    readOnly?: boolean;
    volumes?: string[];
    env?: Record<string, string>;
    /** As a pod's `capabilities: { drop: [ALL] }`. */
    capDropAll?: boolean;
    /** As `capabilities.add` (after the drop). */
    capAdd?: string[];
    /** `host` (default), or `none`: a network namespace of its own with only `lo`, as a pod's. */
    network?: 'host' | 'none';
    /** As `runAsUser`/`runAsGroup`, e.g. "0:0"; default the image's USER. */
    user?: string;
  } = {},
): Promise<string> {
  const volumes = (options.volumes ?? []).flatMap((v) => ['--volume', v]);
  const env = Object.entries(options.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  const readOnly = options.readOnly === false ? [] : ['--read-only'];
  return (
    await podman([
      ...RUN_FLAGS,
      'run',
      '--detach',
      '--network',
      options.network ?? 'host',
      ...LIMITS,
      ...readOnly,
      ...(options.capDropAll ? ['--cap-drop', 'ALL'] : []),
      ...(options.capAdd ?? []).flatMap((cap) => ['--cap-add', cap]),
      ...(options.user ? ['--user', options.user] : []),
      ...volumes,
      ...env,
      IMAGE,
      ...args,
    ])
  ).trim();
}

/** The uid and gid the container's main process has on the host (Uid:/Gid: of /proc/PID/status). */
async function processIds(container: string): Promise<{ uid: number; gid: number }> {
  const pid = (await podman(['inspect', '--format', '{{.State.Pid}}', container])).trim();
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)![1]);
  return { uid: field('Uid'), gid: field('Gid') };
}

// What podman itself mounts into every container (--read-only adds tmpfs on /tmp, /var/tmp, /run).
const PODMAN_MOUNTS = [
  '/etc/hosts',
  '/etc/hostname',
  '/etc/resolv.conf',
  '/run/.containerenv',
  '/tmp',
  '/var/tmp',
  '/run',
  '/dev/shm',
];

/**
 * Files the container changed in its own filesystem. Mount points (volumes and podman's own) and
 * the directories podman creates to hold them are not the process's writes and are left out.
 */
async function writes(container: string): Promise<string[]> {
  const mounts = JSON.parse(
    await podman(['inspect', '--format', '{{json .Mounts}}', container]),
  ) as Array<{ Destination: string }>;
  const points = [...PODMAN_MOUNTS, ...mounts.map((m) => m.Destination)];
  const holdsMount = (path: string) =>
    points.some((point) => point === path || point.startsWith(`${path}/`));
  const diff = JSON.parse(
    (await podman(['diff', '--format', 'json', container])) || '{}',
  ) as Record<string, string[] | null>;
  return Object.entries(diff).flatMap(([kind, paths]) =>
    (paths ?? []).filter((path) => !holdsMount(path)).map((path) => `${kind} ${path}`),
  );
}

async function logsOf(container: string): Promise<string> {
  const { stdout, stderr } = await run('podman', ['logs', container]).catch(
    (err: { stdout?: string; stderr?: string }) => ({
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    }),
  );
  return stdout + stderr;
}

/** Waits for a detached container to exit; resolves to its exit code. */
async function exitCode(container: string): Promise<number> {
  return Number((await podman(['wait', container], 180_000)).trim());
}

/** A directory the image's user (65532) can read: test files are created 0600 by root. */
async function readableByImage(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir)) await chmod(join(dir, entry), 0o644);
}

/**
 * What the webhook mounts into a direct-access pod, under `root`: the projected token and the
 * credential configuration it renders; resolves to podman volumes at the injected paths.
 */
async function directAccessPodFiles(root: string): Promise<string[]> {
  const paths = LAYOUTS.linux;
  await mkdir(join(root, 'token'));
  await mkdir(join(root, 'config'));
  await writeFile(
    join(root, 'token', 'token'),
    `e30.${Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:apps:web' })).toString('base64url')}.sig`,
  );
  const config = externalAccountConfig({
    provider: parseProvider(
      'projects/123456/locations/global/workloadIdentityPools/pool/providers/prov',
    ),
    tokenPath: paths.tokenFile,
  });
  await writeFile(join(root, 'config', basename(paths.configFile)), JSON.stringify(config));
  await chmod(root, 0o755);
  await readableByImage(join(root, 'token'));
  await readableByImage(join(root, 'config'));
  return [
    `${join(root, 'token')}:${paths.tokenDir}:ro`,
    `${join(root, 'config')}:${paths.configDir}:ro`,
  ];
}

// Reads the image from inside, with node only (there is no shell): sizes and installed packages.
const INSPECT_SCRIPT = `
const fs = require('fs'), path = require('path');
const size = (p) => { const s = fs.lstatSync(p); return s.isDirectory() ? fs.readdirSync(p).reduce((n, e) => n + size(path.join(p, e)), 0) : s.size; };
const nm = '/app/node_modules', packages = {}, sizes = {};
for (const e of fs.readdirSync(nm)) {
  if (e.startsWith('.')) continue;
  const names = e.startsWith('@') ? fs.readdirSync(path.join(nm, e)).map((s) => e + '/' + s) : [e];
  for (const name of names) { packages[name] = JSON.parse(fs.readFileSync(path.join(nm, name, 'package.json'), 'utf8')).version; sizes[name] = size(path.join(nm, name)); }
}
const exists = (p) => fs.existsSync(p);
console.log(JSON.stringify({ packages, sizes, node: size(process.execPath), nodeModules: size(nm), app: size('/app') - size(nm),
  npm: ['/usr/local/bin/npm', '/usr/local/lib/node_modules/npm', '/usr/bin/npm'].filter(exists), shells: ['/bin/sh', '/bin/bash', '/bin/dash', '/usr/bin/sh'].filter(exists) }));
`;

describe.skipIf(unavailable !== undefined)(
  `the image, built and run with podman${unavailable ? ` (skipped: ${unavailable})` : ''}`,
  () => {
    let sbomDir: Awaited<ReturnType<typeof tempDir>>;
    let revision: string;
    const containers: string[] = [];

    beforeAll(async () => {
      sbomDir = await tempDir('idbridge-image-sbom-');
      revision = (await run('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT })).stdout.trim();
      // --layers=false: no per-step images are kept (CI caches nothing; the machine's store stays small).
      await run(
        'bash',
        [
          join(REPO_ROOT, 'scripts/build-image.sh'),
          '--local-base',
          '--tag',
          IMAGE,
          '--out',
          sbomDir.path,
        ],
        {
          cwd: REPO_ROOT,
          env: {
            ...process.env,
            ...BASES,
            IMAGE_ENGINE: 'podman',
            IMAGE_BUILD_FLAGS: '--isolation chroot --layers=false',
          },
          maxBuffer: 64 * 1024 * 1024,
          timeout: 900_000,
        },
      );
    }, 900_000);

    afterAll(async () => {
      for (const container of containers)
        await run('podman', ['rm', '--force', '--time', '0', container]).catch(() => {});
      await run('podman', [
        'rmi',
        '--force',
        IMAGE,
        BASES.IDBRIDGE_BASE_IMAGE_TAG,
        BASES.IDBRIDGE_BUILD_IMAGE_TAG,
      ]).catch(() => {});
      await sbomDir?.remove();
    }, 120_000);

    it('runs as 65532:65532 with the idbridge CLI as entrypoint, `webhook` by default, and carries the OCI release labels', async () => {
      const config = JSON.parse(
        await podman(['image', 'inspect', '--format', '{{json .Config}}', IMAGE]),
      ) as { User: string; Entrypoint: string[]; Cmd: string[]; Labels: Record<string, string> };
      expect(config.User).toBe('65532:65532');
      expect(config.Entrypoint).toEqual(['/usr/local/bin/node', '/app/bin/idbridge.js']);
      expect(config.Cmd).toEqual(['webhook']);
      expect(config.Labels).toMatchObject({
        'org.opencontainers.image.version': pkg.version,
        'org.opencontainers.image.revision': revision,
        'org.opencontainers.image.licenses': 'Apache-2.0',
        'org.opencontainers.image.source': expect.stringMatching(/^https:\/\//),
      });
    });

    it("holds production dependencies only (exactly the SBOM's), no npm and no shell, under 150 MiB", async () => {
      const sbom = JSON.parse(await readFile(join(sbomDir.path, 'sbom.cdx.json'), 'utf8')) as {
        bomFormat: string;
        components: Array<{ name: string; group?: string; version: string }>;
      };
      expect(sbom.bomFormat).toBe('CycloneDX');
      const listed = new Map(
        sbom.components.map((c) => [c.group ? `${c.group}/${c.name}` : c.name, c.version]),
      );
      expect(await readFile(join(sbomDir.path, 'sbom.cdx.json'), 'utf8')).toBe(
        await podman([
          ...RUN_FLAGS,
          'run',
          '--rm',
          '--network',
          'none',
          ...LIMITS,
          '--entrypoint',
          '/usr/local/bin/node',
          IMAGE,
          '-e',
          'process.stdout.write(require("fs").readFileSync("/app/sbom.cdx.json", "utf8"))',
        ]),
      );
      for (const dep of Object.keys(pkg.dependencies))
        expect(listed.has(dep), `SBOM lists ${dep}`).toBe(true);
      // No development-only package (some devDependencies, e.g. @types/node, are also needed in production).
      const devOnly = devOnlyPackages();
      expect(
        sbom.components
          .map((c) => `${c.group ? `${c.group}/${c.name}` : c.name}@${c.version}`)
          .filter((id) => devOnly.has(id)),
      ).toEqual([]);

      const inside = JSON.parse(
        await podman([
          ...RUN_FLAGS,
          'run',
          '--rm',
          '--read-only',
          '--network',
          'none',
          ...LIMITS,
          '--entrypoint',
          '/usr/local/bin/node',
          IMAGE,
          '-e',
          INSPECT_SCRIPT,
        ]),
      ) as {
        packages: Record<string, string>;
        sizes: Record<string, number>;
        node: number;
        nodeModules: number;
        app: number;
        npm: string[];
        shells: string[];
      };
      expect(inside.npm).toEqual([]);
      expect(inside.shells).toEqual([]);
      // Top-level packages are a subset of the SBOM (nested copies are listed too), with its versions.
      const ids = new Set(
        sbom.components.map((c) => `${c.group ? `${c.group}/${c.name}` : c.name}@${c.version}`),
      );
      for (const [name, version] of Object.entries(inside.packages))
        expect(ids.has(`${name}@${version}`), `SBOM lists ${name}@${version}`).toBe(true);
      for (const dev of DEV_TOOLS) expect(inside.packages[dev], dev).toBeUndefined();

      const size = Number(
        (await podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE])).trim(),
      );
      const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
      const largest = Object.entries(inside.sizes)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 8)
        .map(([name, n]) => `${name} ${mib(n)}`);
      // What takes the space, in the test log (docs/image.md carries the table).
      console.log(
        `image ${mib(size)}: node ${mib(inside.node)}, node_modules ${mib(inside.nodeModules)} (${largest.join(', ')}), app ${mib(inside.app)}`,
      );
      expect(size, `image ${mib(size)}`).toBeLessThan(SIZE_GOAL_BYTES);
    }, 120_000);

    it("`idbridge --version` prints package.json's version", async () => {
      expect(
        (
          await podman([
            ...RUN_FLAGS,
            'run',
            '--rm',
            '--read-only',
            '--network',
            'none',
            ...LIMITS,
            IMAGE,
            '--version',
          ])
        ).trim(),
      ).toBe(pkg.version);
    }, 60_000);

    describe('the webhook, read-only, with mounted certificates and kubeconfig', () => {
      let kube: FakeKubeServiceAccounts;
      let dir: Awaited<ReturnType<typeof tempDir>>;
      let certificate: TestCertificate;
      let container: string;
      let port: number;

      beforeAll(async () => {
        dir = await tempDir('idbridge-image-webhook-');
        await mkdir(join(dir.path, 'tls'));
        await mkdir(join(dir.path, 'kube'));
        certificate = await makeCertificate(join(dir.path, 'tls'));
        kube = await startFakeKubeServiceAccounts([
          {
            namespace: 'apps',
            name: 'web',
            annotations: {
              'iam.gke.io/gcp-service-account': 'app@proj-abc12.iam.gserviceaccount.com',
            },
          },
        ]);
        await kube.writeKubeconfig(join(dir.path, 'kube'));
        await readableByImage(join(dir.path, 'tls'));
        await readableByImage(join(dir.path, 'kube'));
        await chmod(dir.path, 0o755);
        port = await freePort();
        container = await start(
          [
            'webhook',
            '--host=127.0.0.1',
            `--port=${port}`,
            '--tls-cert-file=/etc/idbridge-webhook/tls/tls.crt',
            '--tls-key-file=/etc/idbridge-webhook/tls/tls.key',
            '--kubeconfig=/etc/idbridge-webhook/kube/kubeconfig',
          ],
          {
            volumes: [
              `${join(dir.path, 'tls')}:/etc/idbridge-webhook/tls:ro`,
              `${join(dir.path, 'kube')}:/etc/idbridge-webhook/kube:ro`,
            ],
            env: {
              IDBRIDGE_WEBHOOK_DEFAULT_PROVIDER:
                'projects/123456789/locations/global/workloadIdentityPools/on-prem/providers/cluster-a',
            },
          },
        );
        containers.push(container);
        await waitFor(
          async () => /"msg":"listening"/.test(await logsOf(container)),
          'the webhook to listen',
          60_000,
        );
      }, 120_000);
      afterAll(async () => {
        await kube?.close();
        await dir?.remove();
      });

      it('answers /healthz with the version and /readyz once the ServiceAccount cache is filled', async () => {
        const health = await httpsRequest(`https://127.0.0.1:${port}/healthz`, {
          ca: certificate.cert,
        });
        expect(health.status).toBe(200);
        expect(JSON.parse(health.body)).toEqual({ status: 'ok', version: pkg.version });
        await waitFor(
          async () =>
            (await httpsRequest(`https://127.0.0.1:${port}/readyz`, { ca: certificate.cert }))
              .status === 200,
          'readiness',
          30_000,
        );
      });

      it('mutates a real AdmissionReview over TLS: the pod gets the credential configuration', async () => {
        const answer = await httpsRequest(`https://127.0.0.1:${port}/mutate-v1-pod`, {
          ca: certificate.cert,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(
            admissionReview({
              metadata: { name: 'p' },
              spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'x' }] },
            }),
          ),
        });
        expect(answer.status).toBe(200);
        const review = JSON.parse(answer.body) as {
          response: { allowed: boolean; patchType?: string; patch?: string };
        };
        expect(review.response.allowed).toBe(true);
        expect(review.response.patchType).toBe('JSONPatch');
        const patch = Buffer.from(review.response.patch!, 'base64').toString('utf8');
        expect(patch).toContain('GOOGLE_APPLICATION_CREDENTIALS');
        expect(patch).toContain('providers/cluster-a');
      });

      it('runs as 65532 and has written nothing outside its volumes', async () => {
        expect(await processIds(container)).toEqual({ uid: 65532, gid: 65532 });
        expect(await writes(container)).toEqual([]);
        await podman(['stop', '--time', '10', container]);
        expect(await exitCode(container)).toBe(0);
        expect(await writes(container)).toEqual([]);
      }, 60_000);
    });

    describe('sync --once from inside the container', () => {
      let world: SyncWorld;
      let dir: Awaited<ReturnType<typeof tempDir>>;

      beforeAll(async () => {
        world = await startSyncWorld('memory');
        await world.register();
        dir = await tempDir('idbridge-image-sync-');
        await writeFile(join(dir.path, 'kubeconfig'), await readFile(world.kubeconfig));
        await writeFile(join(dir.path, 'token'), await readFile(world.tokenFile));
        await readableByImage(dir.path);
      });
      afterAll(async () => {
        await world?.close();
        await dir?.remove();
      });

      it('reads the kube-apiserver fake over HTTPS (its CA in the mounted kubeconfig) and pushes to serve on the host', async () => {
        // A key the cluster rotates in: only a sync that ran publishes it.
        const added = generateClusterKey();
        world.kube.addKey(added);
        const before = (await world.published()) as { keys: Array<{ kid: string }> };
        expect(before.keys.map((k) => k.kid)).not.toContain(added.jwk.kid);
        const container = await start(
          [
            'sync',
            '--once',
            `--api=${world.serve.url}`,
            `--cluster=${world.cluster}`,
            '--token-file=/var/run/secrets/idbridge/token',
            '--kubeconfig=/var/run/kube/kubeconfig',
            '--backoff=100ms',
          ],
          {
            volumes: [
              `${join(dir.path, 'token')}:/var/run/secrets/idbridge/token:ro`,
              `${join(dir.path, 'kubeconfig')}:/var/run/kube/kubeconfig:ro`,
            ],
          },
        );
        containers.push(container);
        const code = await exitCode(container);
        expect(code, await logsOf(container)).toBe(0);
        expect(world.kube.served.ok).toBeGreaterThan(0);
        const published = (await world.published()) as { keys: Array<{ kid: string }> };
        expect(published.keys.map((k) => k.kid).sort()).toEqual(
          world.kube.keys.map((k) => k.jwk.kid).sort(),
        );
        expect(await writes(container)).toEqual([]);
      }, 120_000);
    });

    describe('serve on a mounted volume', () => {
      let dir: Awaited<ReturnType<typeof tempDir>>;

      beforeAll(async () => {
        dir = await tempDir('idbridge-image-serve-');
        await mkdir(join(dir.path, 'data'));
        await chmod(dir.path, 0o755);
        await chmod(join(dir.path, 'data'), 0o777); // the image's user writes its store here
      });
      afterAll(async () => {
        // Files the container's user created: removable by the test's user (root here).
        await dir?.remove();
      });

      it('keeps its store in the volume only, even with a writable root filesystem, as 65532', async () => {
        const port = await freePort();
        const adminToken = `image-admin-${randomUUID()}`;
        // Not --read-only: whatever it writes would show in `podman diff`; nothing may.
        const container = await start(
          ['serve', '--store=file:/data', '--host=127.0.0.1', `--port=${port}`],
          {
            readOnly: false,
            volumes: [`${join(dir.path, 'data')}:/data`],
            env: { IDBRIDGE_ADMIN_TOKEN: adminToken },
          },
        );
        containers.push(container);
        await waitFor(
          async () => /"msg":"listening"/.test(await logsOf(container)),
          'serve to listen',
          60_000,
        );
        const url = `http://127.0.0.1:${port}`;
        const health = await fetch(`${url}/healthz`);
        expect(await health.json()).toEqual({ status: 'ok', version: pkg.version });
        expect((await fetch(`${url}/readyz`)).status).toBe(200);
        await registerCluster(
          { url, adminToken, logs: [], close: async () => {} },
          'c1',
          jwksOf(generateClusterKey()),
        );
        expect((await fetch(`${url}/c1/openid/v1/jwks`)).status).toBe(200);
        expect(await processIds(container)).toEqual({ uid: 65532, gid: 65532 });
        await podman(['stop', '--time', '10', container]);
        expect(await exitCode(container)).toBe(0);
        expect(await writes(container)).toEqual([]);
        expect((await readdir(join(dir.path, 'data'))).length).toBeGreaterThan(0);
      }, 120_000);
    });

    // TODO(metadata-server): turns on by itself once `idbridge metadata-server` exists.
    const help = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/idbridge.js'), '--help'], {
      encoding: 'utf8',
    }).stdout;
    it.skipIf(!/\bmetadata-server\b/.test(help))(
      'metadata-server runs from the image (its --help; skipped while the command does not exist)',
      async () => {
        const container = await start(['metadata-server', '--help']);
        containers.push(container);
        expect(await exitCode(container)).toBe(0);
        expect(await writes(container)).toEqual([]);
      },
      60_000,
    );

    it.skipIf(!/\bmetadata-server\b/.test(help))(
      'the metadata sidecar answers /computeMetadata/v1/ and /readyz from the image, read-only, as 65532',
      async () => {
        const dir = await tempDir('idbridge-image-metadata-');
        try {
          // As the webhook mounts them: the projected token and the credential configuration it renders.
          const mount = '/var/run/secrets/idbridge';
          // Its claims name the pod's ServiceAccount (the server reads them; Google verifies the token).
          await writeFile(
            join(dir.path, 'token'),
            `e30.${Buffer.from(JSON.stringify({ sub: 'system:serviceaccount:apps:web' })).toString('base64url')}.sig`,
          );
          const config = externalAccountConfig({
            provider: parseProvider(
              'projects/123456/locations/global/workloadIdentityPools/pool/providers/prov',
            ),
            tokenPath: `${mount}/token`,
            serviceAccountEmail: 'app@proj-abc12.iam.gserviceaccount.com',
          });
          await writeFile(join(dir.path, 'config.json'), JSON.stringify(config));
          await readableByImage(dir.path);
          const port = await freePort();
          const container = await start(
            [
              'metadata-server',
              '--credential-config',
              `${mount}/config.json`,
              '--host',
              '127.0.0.1',
              '--port',
              String(port),
            ],
            { volumes: [`${dir.path}:${mount}:ro`] },
          );
          containers.push(container);
          const url = `http://127.0.0.1:${port}`;
          await waitFor(
            async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200,
            'metadata-server /readyz',
            60_000,
          ).catch(async (err: unknown) => {
            throw new Error(`metadata-server never ready: ${await logsOf(container)}`, {
              cause: err,
            });
          });
          const root = await fetch(`${url}/computeMetadata/v1/`, {
            headers: { 'metadata-flavor': 'Google' },
          });
          expect(root.status).toBe(200);
          expect(root.headers.get('metadata-flavor')).toBe('Google');
          expect(await root.text()).toMatch(/^instance\/\n/m);
          const email = await fetch(
            `${url}/computeMetadata/v1/instance/service-accounts/default/email`,
            { headers: { 'metadata-flavor': 'Google' } },
          );
          expect(await email.text()).toBe('app@proj-abc12.iam.gserviceaccount.com');
          expect(await processIds(container)).toEqual({ uid: 65532, gid: 65532 });
          await podman(['stop', '--time', '10', container]);
          expect(await exitCode(container)).toBe(0);
          expect(await writes(container)).toEqual([]);
        } finally {
          await dir.remove();
        }
      },
      120_000,
    );

    it.skipIf(!/\bmetadata-server\b/.test(help))(
      'the sidecar exactly as the webhook injects it (its args and mounts, 65532, every capability dropped) binds its port and gets ready',
      async () => {
        // Host networking here, whose net.ipv4.ip_unprivileged_port_start (1024 on this machine,
        // and in pods on containerd 1.x and CRI-O) refuses a port under 1024 to this process.
        // A direct-access ServiceAccount (no Google service account): the project id is the
        // webhook's, passed as --project-id, the server's only way to learn it.
        const sidecar = metadataSidecar({
          kind: 'sidecar',
          image: IMAGE,
          linkLocal: false,
          projectId: 'proj-abc12',
        });
        const paths = LAYOUTS.linux;
        const dir = await tempDir('idbridge-image-sidecar-');
        try {
          const volumes = await directAccessPodFiles(dir.path);
          expect(paths.tokenFile).toBe(`${paths.tokenDir}/token`);
          const container = await start(sidecar.args!, {
            volumes,
            capDropAll: true,
          });
          containers.push(container);
          const port = sidecar.args![sidecar.args!.indexOf('--port') + 1];
          await waitFor(
            async () =>
              (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status ===
              200,
            'the injected sidecar /readyz',
            60_000,
          ).catch(async (err: unknown) => {
            throw new Error(`the injected sidecar never got ready: ${await logsOf(container)}`, {
              cause: err,
            });
          });
          const flavor = { headers: { 'metadata-flavor': 'Google' } };
          const answer = async (path: string) =>
            (await fetch(`http://127.0.0.1:${port}/computeMetadata/v1/${path}`, flavor)).text();
          expect(await answer('project/project-id')).toBe('proj-abc12');
          expect(await answer('instance/service-accounts/default/email')).toBe(
            'proj-abc12.svc.id.goog',
          );
          expect(await processIds(container)).toEqual({ uid: 65532, gid: 65532 });
          await podman(['stop', '--time', '10', container]);
          expect(await writes(container)).toEqual([]);
        } finally {
          await dir.remove();
        }
      },
      120_000,
    );

    it.skipIf(!/\bmetadata-server\b/.test(help))(
      "the link-local sidecar as injected (root, only NET_ADMIN and NET_BIND_SERVICE, a network namespace of its own) puts 169.254.169.254 on its loopback with the image's ip and answers there on port 80",
      async () => {
        const sidecar = metadataSidecar({
          kind: 'sidecar',
          image: IMAGE,
          linkLocal: true,
          projectId: 'proj-abc12',
        });
        const context = sidecar.securityContext!;
        expect(context.capabilities).toEqual({
          drop: ['ALL'],
          add: ['NET_ADMIN', 'NET_BIND_SERVICE'],
        });
        const dir = await tempDir('idbridge-image-link-local-');
        try {
          const volumes = await directAccessPodFiles(dir.path);
          // A pod's network namespace: only lo, which the sidecar changes and the host never sees.
          const container = await start(sidecar.args!, {
            volumes,
            network: 'none',
            capDropAll: true,
            capAdd: context.capabilities!.add!,
            user: `${context.runAsUser}:${context.runAsUser}`,
          });
          containers.push(container);
          // What a neighbouring container of the pod sees: the same network namespace.
          const fromPod = async (url: string) =>
            (
              await podman([
                'exec',
                container,
                '/usr/local/bin/node',
                '-e',
                `fetch(${JSON.stringify(url)}, { headers: { 'metadata-flavor': 'Google' } }).then(async (r) => process.stdout.write(r.status + ' ' + (await r.text())), () => process.stdout.write('unreachable'))`,
              ])
            ).trim();
          const port = sidecar.args![sidecar.args!.indexOf('--port') + 1];
          await waitFor(
            async () =>
              (await fromPod(`http://127.0.0.1:${port}/readyz`).catch(() => '')).startsWith('200'),
            'the link-local sidecar /readyz',
            60_000,
          ).catch(async (err: unknown) => {
            throw new Error(`the link-local sidecar never got ready: ${await logsOf(container)}`, {
              cause: err,
            });
          });
          expect(
            await fromPod('http://169.254.169.254/computeMetadata/v1/project/project-id'),
          ).toBe('200 proj-abc12');
          expect(await fromPod('http://169.254.169.254/')).toBe('200 computeMetadata/');
          expect(await processIds(container)).toEqual({ uid: 0, gid: 0 });
          await podman(['stop', '--time', '10', container]);
          expect(await writes(container)).toEqual([]);
        } finally {
          await dir.remove();
        }
      },
      120_000,
    );
  },
);
