import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
}

/** `wrk` against one URL (or a Lua script for many); latency percentiles from --latency. */
export async function wrk(
  url: string,
  options: {
    connections: number;
    threads?: number;
    seconds: number;
    headers?: Record<string, string>;
    script?: string;
  },
): Promise<LoadResult> {
  const args = [
    '-t',
    String(options.threads ?? 1),
    '-c',
    String(options.connections),
    '-d',
    `${options.seconds}s`,
    '--latency',
  ];
  for (const [name, value] of Object.entries(options.headers ?? {}))
    args.push('-H', `${name}: ${value}`);
  if (options.script) args.push('-s', options.script);
  args.push(url);
  const { stdout } = await run('wrk', args, { maxBuffer: 1 << 20 });
  const ms = (text: string | undefined): number => {
    const match = /([\d.]+)(us|ms|s)/.exec(text ?? '');
    if (!match) return Number.NaN;
    const value = Number(match[1]);
    return match[2] === 'us' ? value / 1000 : match[2] === 's' ? value * 1000 : value;
  };
  return {
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN),
    p50Ms: ms(/\n\s+50%\s+(\S+)/.exec(stdout)?.[1]),
    p99Ms: ms(/\n\s+99%\s+(\S+)/.exec(stdout)?.[1]),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0),
  };
}

/** nginx serving `files` (path → bytes) as static files on 127.0.0.1:port, access log to a file like any server. */
export async function startNginx(
  port: number,
  files: Record<string, Uint8Array | string>,
  contentType: string,
): Promise<{ stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-nginx-'));
  await chmod(dir, 0o755); // nginx workers run as an unprivileged user
  for (const [path, body] of Object.entries(files)) {
    await mkdir(dirname(join(dir, 'www', path)), { recursive: true });
    await writeFile(join(dir, 'www', path), body);
  }
  // Debian's defaults (worker_processes auto, sendfile), a plain static server block.
  await writeFile(
    join(dir, 'nginx.conf'),
    `
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections 4096; }
http {
  sendfile on;
  tcp_nopush on;
  access_log ${dir}/access.log;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/www;
    default_type ${contentType};
    etag on;
    add_header Cache-Control "public, max-age=300";
    add_header Access-Control-Allow-Origin "*";
  }
}
`,
  );
  await run('nginx', ['-c', join(dir, 'nginx.conf')]);
  await waitForPort(port);
  return {
    stop: async () => {
      await run('nginx', ['-c', join(dir, 'nginx.conf'), '-s', 'stop']).catch(() => {});
      // Run outside bench/run.sh (whose TMPDIR goes at the end), the files would stay behind.
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function waitForPort(port: number, path = '/'): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}${path}`);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** Starts a process and resolves when `ready` matches a line of its stdout. */
export function startProcess(
  command: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffered = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      if (ready.test(buffered)) {
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining logs
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`${command} exited with ${code}`)));
  });
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
    : 'n/a';
}
