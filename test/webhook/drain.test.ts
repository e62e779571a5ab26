import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startFakeKubeServiceAccounts,
  type FakeKubeServiceAccounts,
} from '../fakes/kube-serviceaccounts.js';
import { KeptAliveClient, within } from '../support/kept-alive.js';
import { freePort } from '../support/net.js';
import { IDBRIDGE_BIN, tempDir } from '../support/serve.js';
import { makeCertificate } from '../support/tls.js';
import { admissionReview, waitFor } from '../support/webhook.js';
import { PROVIDER } from './fixtures.js';

const pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { generateName: 'web-', namespace: 'apps' },
  spec: { serviceAccountName: 'web', containers: [{ name: 'app', image: 'example/app:1' }] },
};

/** The real `idbridge webhook` process (HTTPS) with a kube-apiserver client on a kept-alive connection during SIGTERM. */
describe('idbridge webhook drains kept-alive connections on SIGTERM', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('answers the review in flight with 200 and Connection: close, then exits before its drain deadline', async () => {
    const dir = await tempDir('idbridge-webhook-drain-');
    cleanups.push(() => dir.remove());
    const kube: FakeKubeServiceAccounts = await startFakeKubeServiceAccounts([
      {
        namespace: 'apps',
        name: 'web',
        annotations: {
          'cloud.google.com/workload-identity-provider': PROVIDER,
          'cloud.google.com/service-account-email': 'app-x@my-project-1.iam.gserviceaccount.com',
        },
      },
    ]);
    cleanups.push(() => kube.close());
    const certificate = await makeCertificate(dir.path);
    const port = await freePort();
    const child: ChildProcess = spawn(
      process.execPath,
      [
        IDBRIDGE_BIN,
        'webhook',
        '--host=127.0.0.1',
        `--port=${port}`,
        `--tls-cert-file=${certificate.certFile}`,
        `--tls-key-file=${certificate.keyFile}`,
        `--kubeconfig=${await kube.writeKubeconfig(dir.path)}`,
      ],
      {
        // Far beyond the ceiling below: exiting within it proves the process did not wait for the deadline.
        env: { PATH: process.env.PATH ?? '', IDBRIDGE_SHUTDOWN_TIMEOUT_MS: '60000' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    await waitFor(
      () => stdout.includes('"msg":"listening"') || child.exitCode !== null,
      'the webhook to listen',
    );
    expect(child.exitCode, stderr).toBeNull();

    const client = new KeptAliveClient(`https://127.0.0.1:${port}`, { ca: certificate.cert });
    cleanups.push(() => client.close());
    await waitFor(
      async () => (await client.send('/readyz')).status === 200,
      'the webhook to become ready',
    );
    const warm = await client.send('/healthz');
    expect([warm.status, warm.connection]).toEqual([200, 'keep-alive']);

    const held = await client.hold('/mutate-v1-pod', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(admissionReview(pod)),
    });
    child.kill('SIGTERM');
    await waitFor(() => stdout.includes('"msg":"shutting down"'), 'the shutdown log line');
    const answer = await held.finish();
    expect(answer.status).toBe(200);
    expect(answer.connection).toBe('close');
    expect(answer.localPort).toBe(warm.localPort);
    expect(
      (JSON.parse(answer.body) as { response: { allowed: boolean } }).response.allowed,
      answer.body,
    ).toBe(true);
    expect(await within(exited, 8_000, 'webhook exit after the last answer')).toBe(0);
  });
});
