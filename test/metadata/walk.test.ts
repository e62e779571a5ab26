import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import {
  GSA,
  startMetadataWorld,
  UNBOUND_GSA,
  type MetadataWorld,
  type SpawnedMetadataServer,
} from './world.js';

/** `whoami --metadata` and `doctor --metadata` walk a metadata server as an engineer does with curl. */
describe('whoami and doctor --metadata', () => {
  let world: MetadataWorld;
  let server: SpawnedMetadataServer;
  let unbound: SpawnedMetadataServer;
  beforeAll(async () => {
    world = await startMetadataWorld();
    server = await world.sidecar('web', { gsa: GSA });
    unbound = await world.sidecar('unbound', { gsa: UNBOUND_GSA });
  });
  afterAll(() => world?.close());

  it('whoami --metadata: every step passes, the email is shown, no token is', async () => {
    const result = await runCli(['whoami', '--metadata', server.url, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      outcome: string;
      identity: { googleServiceAccount: string };
      checks: Array<{ id: string; verdict: string; details?: string[] }>;
    };
    expect(report.outcome).toBe('pass');
    expect(report.identity.googleServiceAccount).toBe(GSA);
    expect(report.checks.map((c) => c.id)).toEqual([
      'metadata.probe',
      'metadata.numeric-project-id',
      'metadata.project-id',
      'metadata.service-accounts',
      'metadata.account',
      'metadata.token',
      'metadata.identity',
    ]);
    expect(report.checks.find((c) => c.id === 'metadata.token')!.details![0]).toContain(
      "curl -s -H 'Metadata-Flavor: Google'",
    );
    expect(result.stdout).not.toMatch(/ya29\.|eyJ/);
  });

  it('doctor --metadata: a missing binding fails the token step with the fix, exit 2', async () => {
    const result = await runCli(['doctor', '--metadata', unbound.url]);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain('roles/iam.workloadIdentityUser');
  });

  it('doctor --metadata on a closed port says it cannot be reached', async () => {
    const result = await runCli(['doctor', '--metadata', 'http://127.0.0.1:9', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout).checks[0]).toMatchObject({
      id: 'metadata.reachable',
      verdict: 'fail',
    });
  });
});
