import { execFile } from 'node:child_process';
import { IdbridgeError } from '../errors.js';

/**
 * The `link-local` sidecar variant: puts 169.254.169.254/32 on the pod's own loopback so clients
 * that hard-code the address reach the sidecar (it then also listens there on port 80). Node has
 * no netlink sockets, so this runs iproute2's `ip` (no shell: execFile with fixed arguments); the
 * idbridge image carries it (scripts/collect-iproute2.sh).
 * Needs CAP_NET_ADMIN in this container only. Only the pod's network namespace changes.
 */

export const LINK_LOCAL_ADDRESS = '169.254.169.254';
export const LINK_LOCAL_PORT = 80;

export interface LinkLocalOptions {
  /** The `ip` binary (default: found on PATH). */
  ipCommand?: string;
  device?: string;
  /** Runs a command without a shell; injectable so the error paths are testable without privileges. */
  run?: (file: string, args: string[]) => Promise<void>;
}

const runFile = (file: string, args: string[]) =>
  new Promise<void>((resolve, reject) => {
    execFile(file, args, { timeout: 5000 }, (err, _stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr) }));
      else resolve();
    });
  });

/** Idempotent (`ip addr replace`): a restarted sidecar finds the address already there and carries on. */
export async function setupLinkLocal(
  options: LinkLocalOptions = {},
): Promise<{ address: string; port: number }> {
  const ip = options.ipCommand ?? 'ip';
  const device = options.device ?? 'lo';
  // scope host: the address answers only inside this pod and is never announced or routed.
  const args = [
    '-4',
    'addr',
    'replace',
    `${LINK_LOCAL_ADDRESS}/32`,
    'dev',
    device,
    'scope',
    'host',
  ];
  try {
    await (options.run ?? runFile)(ip, args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new IdbridgeError(
        'invalid_request',
        `--link-local needs the "${ip}" command (iproute2) in the image, and it is not there; add iproute2 to the image or use the default loopback mode (GCE_METADATA_HOST)`,
        [],
        { cause: err },
      );
    }
    const reason = (e.stderr ?? '').trim().split('\n')[0]?.slice(0, 200) || e.message.slice(0, 200);
    const hint = /not permitted|denied/i.test(reason)
      ? '; the sidecar needs the NET_ADMIN capability (the webhook adds it for idbridge.dev/metadata-server: "link-local")'
      : '';
    throw new IdbridgeError(
      'invalid_request',
      `could not add ${LINK_LOCAL_ADDRESS}/32 to ${device}: ${reason}${hint}`,
      [],
      { cause: err },
    );
  }
  return { address: LINK_LOCAL_ADDRESS, port: LINK_LOCAL_PORT };
}
