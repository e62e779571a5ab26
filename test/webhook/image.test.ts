import { execFile, spawn } from 'node:child_process';
import { chmod, cp, readFile, readdir, stat } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeKubeServiceAccounts, type FakeKubeServiceAccounts } from '../fakes/kube-serviceaccounts.js';
import { freePort } from '../support/net.js';
import { REPO_ROOT, tempDir } from '../support/serve.js';
import { httpsRequest, makeCertificate, type TestCertificate } from '../support/tls.js';
import { admissionReview, waitFor } from '../support/webhook.js';

/**
 * The Dockerfile's runtime stage, run without Docker: its COPY sources copied into a temporary
 * directory that plays /app (the build stage's dist/ is the one `npm run build` made), its RUN
 * lines executed there verbatim (the production-only install), then its ENTRYPOINT started as
 * the image's user, with the application directory read-only, and asked for /healthz over TLS.
 */

interface Stage { name?: string; workdir: string; user?: string; env: Record<string, string>; copies: Array<{ from?: string; sources: string[]; dest: string }>; runs: string[]; entrypoint?: string[]; cmd?: string[] }

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  // Join continuation lines; drop comments.
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  for (const line of lines) {
    const [instruction, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    const stage = stages.at(-1);
    switch (instruction!.toUpperCase()) {
      case 'FROM': {
        const as = /\bAS\s+(\S+)/i.exec(args);
        stages.push({ ...(as ? { name: as[1] } : {}), workdir: '/', env: {}, copies: [], runs: [] });
        break;
      }
      case 'WORKDIR': stage!.workdir = args; break;
      case 'USER': stage!.user = args; break;
      case 'ENV': { const [k, v] = args.split('='); stage!.env[k!] = v!; break; }
      case 'RUN': stage!.runs.push(args); break;
      case 'ENTRYPOINT': stage!.entrypoint = JSON.parse(args) as string[]; break;
      case 'CMD': stage!.cmd = JSON.parse(args) as string[]; break;
      case 'COPY': {
        const parts = args.split(/\s+/);
        const from = parts.find((p) => p.startsWith('--from='))?.slice('--from='.length);
        const paths = parts.filter((p) => !p.startsWith('--'));
        stage!.copies.push({ ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! });
        break;
      }
      default: break;
    }
  }
  return stages;
}

const run = promisify(execFile);

describe('infra/webhook/Dockerfile, exercised without Docker', () => {
  let app: Awaited<ReturnType<typeof tempDir>>;
  let certs: Awaited<ReturnType<typeof tempDir>>;
  let npmCache: Awaited<ReturnType<typeof tempDir>>;
  let kube: FakeKubeServiceAccounts;
  let certificate: TestCertificate;
  let stages: Stage[];
  let runtime: Stage;

  beforeAll(async () => {
    stages = parseDockerfile(await readFile(join(REPO_ROOT, 'infra/webhook/Dockerfile'), 'utf8'));
    runtime = stages.at(-1)!;
    app = await tempDir('idbridge-image-');
    certs = await tempDir('idbridge-image-tls-');
    npmCache = await tempDir('idbridge-image-npm-cache-');
    certificate = await makeCertificate(certs.path);
    kube = await startFakeKubeServiceAccounts([{ namespace: 'apps', name: 'web', annotations: { 'iam.gke.io/gcp-service-account': 'app@proj-abc12.iam.gserviceaccount.com' } }]);
  }, 120_000);
  afterAll(async () => {
    await kube?.close();
    await chmod(app.path, 0o700).catch(() => {});
    await run('chmod', ['-R', 'u+w', app.path]).catch(() => {});
    await app?.remove();
    await certs?.remove();
    await npmCache?.remove();
  });

  it('is multi-stage, runs as a non-root user and enters through `idbridge webhook`', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(runtime.user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
    expect(runtime.env.NODE_ENV).toBe('production');
    // ENTRYPOINT is the idbridge CLI, CMD its default command: `idbridge webhook` unless a
    // container gives other arguments (the sync CronJob runs `idbridge sync …` from the same image).
    expect(runtime.entrypoint!.at(-1)).toBe('/app/bin/idbridge.js');
    expect(runtime.cmd).toEqual(['webhook']);
    expect(runtime.runs.join(' ')).toMatch(/npm ci --omit=dev/);
    const build = stages.find((s) => s.name === 'build')!;
    expect(build.runs).toContain('npm run build');
  });

  it('copies, installs production dependencies only, starts as that user on a read-only app directory, and answers /healthz over TLS', async () => {
    const build = stages.find((s) => s.name === 'build')!;
    // COPY: context paths from the repository; --from=build paths from what `npm run build` made here.
    for (const copy of runtime.copies) {
      for (const source of copy.sources) {
        const from = copy.from === 'build' ? join(REPO_ROOT, relative(build.workdir, source)) : join(REPO_ROOT, source);
        await stat(from); // a path the Dockerfile copies must exist
        // Docker's rule: a destination ending in "/" is a directory the source goes into.
        const dest = copy.dest.endsWith('/') ? join(app.path, copy.dest, basename(source)) : join(app.path, copy.dest);
        await cp(from, dest, { recursive: true });
      }
    }
    for (const command of runtime.runs) {
      // The Dockerfile's own commands, with an npm cache of their own as in a fresh build stage:
      // its `npm cache clean --force` must not empty the developer's cache or race another run.
      await run('sh', ['-c', command], { cwd: app.path, env: { ...process.env, ...runtime.env, npm_config_cache: npmCache.path, npm_config_update_notifier: 'false' }, maxBuffer: 20 * 1024 * 1024 });
    }
    const modules = await readdir(join(app.path, 'node_modules'));
    expect(modules).toContain('hono');
    expect(modules).toContain('@kubernetes');
    for (const dev of ['typescript', 'vitest', 'wrangler', 'miniflare', 'google-auth-library', 'kubernetes-models']) expect(modules).not.toContain(dev);

    // The image's user reads everything and writes nothing.
    await run('chmod', ['-R', 'a+rX,a-w', app.path]);
    const kubeconfig = await kube.writeKubeconfig(certs.path);
    await chmod(kubeconfig, 0o644);
    await chmod(certificate.keyFile, 0o644);
    await chmod(certs.path, 0o755);

    const port = await freePort();
    const [command, ...args] = [...runtime.entrypoint!, ...(runtime.cmd ?? [])].map((part) => part.replace(/^\/app(?=\/)/, app.path));
    const [uid, gid] = runtime.user!.split(':').map(Number);
    const asImageUser = process.getuid?.() === 0 ? { uid: uid!, gid: gid ?? uid! } : {};
    const child = spawn(command === 'node' ? process.execPath : command!, [...args, '--host=127.0.0.1', `--port=${port}`, `--tls-cert-file=${certificate.certFile}`, `--tls-key-file=${certificate.keyFile}`, `--kubeconfig=${kubeconfig}`], {
      cwd: app.path,
      env: { PATH: process.env.PATH ?? '', ...runtime.env, HOME: '/nonexistent' },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...asImageUser,
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    child.stderr!.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await waitFor(() => /"msg":"listening"/.test(output) || child.exitCode !== null, 'the webhook to listen', 20_000);
      expect(child.exitCode, output).toBeNull();
      const health = await httpsRequest(`https://127.0.0.1:${port}/healthz`, { ca: certificate.cert });
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
      await waitFor(async () => (await httpsRequest(`https://127.0.0.1:${port}/readyz`, { ca: certificate.cert })).status === 200, 'readiness');
      const review = await httpsRequest(`https://127.0.0.1:${port}/mutate-v1-pod`, {
        ca: certificate.cert,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(admissionReview({ metadata: { name: 'p' }, spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'x' }] } })),
      });
      // No default provider configured: the GKE-style ServiceAccount is refused with the fix.
      expect(JSON.parse(review.body).response.status.message).toMatch(/--default-provider/);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  }, 180_000);
});
