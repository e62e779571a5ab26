import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Network namespaces joined to the root namespace by veth pairs, as stand-ins for pods: a
 * request made inside one has a real source address. Only addresses in 10.200.0.0/16 on the
 * interfaces created here; names carry the process id so parallel runs do not meet.
 */
export const run = promisify(execFile);

/** Why namespaces cannot be used here, or undefined when they can (checked once, synchronously, for skipIf). */
export function netnsUnavailable(): string | undefined {
  const name = `idbprobe${process.pid}`;
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', name], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `ip netns add is not permitted here (${String(
      (err as { stderr?: Buffer }).stderr ?? (err as Error).message,
    )
      .trim()
      .slice(0, 120)})`;
  }
}

export interface FakePodNetwork {
  namespace: string;
  /** The pod's address (inside the namespace). */
  podIp: string;
  /** The root-namespace end, where servers for this pod listen. */
  hostIp: string;
}

export async function createPodNetwork(index: number): Promise<FakePodNetwork> {
  const tag = `${process.pid % 100000}x${index}`;
  const namespace = `idbpod${tag}`;
  // A third octet per process and index keeps concurrent runs apart.
  const octet = ((process.pid % 60) * 4 + index) % 250;
  const hostIp = `10.200.${octet}.1`;
  const podIp = `10.200.${octet}.2`;
  const host = `vh${tag}`;
  const peer = `vp${tag}`;
  await run('ip', ['netns', 'add', namespace]);
  await run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  await run('ip', ['link', 'set', peer, 'netns', namespace]);
  await run('ip', ['addr', 'add', `${hostIp}/24`, 'dev', host]);
  await run('ip', ['link', 'set', host, 'up']);
  await run('ip', ['netns', 'exec', namespace, 'ip', 'addr', 'add', `${podIp}/24`, 'dev', peer]);
  await run('ip', ['netns', 'exec', namespace, 'ip', 'link', 'set', peer, 'up']);
  await run('ip', ['netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up']);
  return { namespace, podIp, hostIp };
}

/** Deleting the namespace deletes its veth end, and with it the root-namespace end. */
export async function removePodNetwork(network: FakePodNetwork): Promise<void> {
  await run('ip', ['netns', 'del', network.namespace]).catch(() => {});
}

/** An HTTP GET made from inside the namespace (curl: no node start-up per request). */
export async function getFrom(
  network: FakePodNetwork,
  url: string,
): Promise<{ status: number; body: string }> {
  const { stdout } = await run('ip', [
    'netns',
    'exec',
    network.namespace,
    'curl',
    '-sS',
    '--max-time',
    '20',
    '-w',
    '\n%{http_code}',
    url,
  ]);
  const at = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) };
}
