import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupLinkLocal } from '../../src/metadata/link-local.js';
import {
  createPodNetwork,
  netnsUnavailable,
  removePodNetwork,
  run,
  type FakePodNetwork,
} from './netns.js';

/** The link-local variant's address setup, for real inside a pod-like network namespace. */

const skipReason = netnsUnavailable();

describe.skipIf(skipReason !== undefined)('setupLinkLocal in a network namespace', () => {
  let pod: FakePodNetwork;
  // The real `ip`, run inside the namespace: only that namespace's loopback changes.
  const inPod = async (file: string, args: string[]) => {
    await run('ip', ['netns', 'exec', pod.namespace, file, ...args]);
  };
  beforeAll(async () => {
    pod = await createPodNetwork(8);
  });
  afterAll(async () => {
    if (pod) await removePodNetwork(pod);
  });

  it('adds 169.254.169.254/32 to lo with host scope, and again without error (a restarted sidecar)', async () => {
    expect(await setupLinkLocal({ run: inPod })).toEqual({ address: '169.254.169.254', port: 80 });
    await setupLinkLocal({ run: inPod });
    const { stdout } = await run('ip', [
      'netns',
      'exec',
      pod.namespace,
      'ip',
      '-4',
      '-o',
      'addr',
      'show',
      'dev',
      'lo',
    ]);
    expect(stdout.match(/inet 169\.254\.169\.254\/32 scope host/g)).toHaveLength(1);
  });

  it('names the missing binary and the fix when the image has no ip', async () => {
    // execFile itself fails (ENOENT) before anything runs, so the root namespace is safe here.
    await expect(setupLinkLocal({ ipCommand: '/nonexistent/ip' })).rejects.toThrow(
      /needs the "\/nonexistent\/ip" command \(iproute2\) in the image/,
    );
  });
});

describe('setupLinkLocal errors', () => {
  it('a refused netlink call names NET_ADMIN', async () => {
    const refused = async () => {
      throw Object.assign(new Error('Command failed'), {
        code: 2,
        stderr: 'RTNETLINK answers: Operation not permitted\n',
      });
    };
    await expect(setupLinkLocal({ run: refused })).rejects.toThrow(
      /could not add 169\.254\.169\.254\/32 to lo: RTNETLINK answers: Operation not permitted; the sidecar needs the NET_ADMIN capability/,
    );
  });
});
