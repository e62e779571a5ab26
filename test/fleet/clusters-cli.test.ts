import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { startServe, type ServeHarness } from '../support/serve.js';

/** `idbridge clusters` for fleet mode: --mode, and the kill switch as revoke/unrevoke. */
describe('idbridge clusters: mode and the fleet kill switch', () => {
  let server: ServeHarness;
  const cli = (args: string[]) =>
    runCli(['clusters', ...args], {
      IDBRIDGE_API_URL: server.url,
      IDBRIDGE_ADMIN_TOKEN: server.adminToken,
    });
  const fleetOf = async () =>
    (
      (await (
        await fetch(`${server.url}/api/v1/clusters/f1`, {
          headers: { authorization: `Bearer ${server.adminToken}` },
        })
      ).json()) as { cluster: { mode: string; fleet?: unknown } }
    ).cluster;
  beforeAll(async () => {
    server = await startServe();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('creates a fleet cluster, revokes a subject then the cluster, and lifts both', async () => {
    const created = await cli(['create', 'f1', '--mode', 'fleet']);
    expect(created.code, created.stderr).toBe(0);
    expect((await fleetOf()).mode).toBe('fleet');

    const subject = 'system:serviceaccount:apps:web';
    const one = await cli(['revoke', 'f1', '--subject', subject]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/revoked from fleet minting: system:serviceaccount:apps:web/);
    expect((await fleetOf()).fleet).toEqual({ revokedSubjects: [subject] });

    expect((await cli(['revoke', 'f1'])).code).toBe(0);
    expect((await fleetOf()).fleet).toEqual({ revoked: true, revokedSubjects: [subject] });

    expect((await cli(['unrevoke', 'f1', '--subject', subject])).code).toBe(0);
    expect((await fleetOf()).fleet).toEqual({ revoked: true });
    const all = await cli(['unrevoke', 'f1']);
    expect(all.stdout).toMatch(/nothing is revoked/);
    expect((await fleetOf()).fleet).toBeUndefined();
  }, 120_000);

  it('refuses a bad mode and a bad subject, changing nothing', async () => {
    const mode = await cli(['update', 'f1', '--mode', 'fleets']);
    expect(mode.code).toBe(2);
    expect(mode.stderr).toMatch(/Allowed choices are provider, jwks-upload, fleet/);
    const subject = await cli(['revoke', 'f1', '--subject', 'apps:web']);
    expect(subject.code).not.toBe(0);
    expect(subject.stderr).toMatch(/ServiceAccount subject/);
    expect((await fleetOf()).fleet).toBeUndefined();
  }, 120_000);
});
