import { describe, expect, it } from 'vitest';
import {
  isResourceId,
  parseProvider,
  providerIdFor,
} from '../../src/credentials/credential-config.js';
import { gcpSetupPlan } from '../../src/gcp-setup/plan.js';
import { runCli } from '../support/cli.js';

/** Issue #11, item 4: Google wants 4-32 characters for pool and provider ids; c1 is a cluster id, not a provider id. */
describe('provider ids derived from cluster ids', () => {
  it.each([
    ['cluster-c1', 'cluster-c1'],
    ['c1', 'idbridge-c1'],
    ['abc', 'idbridge-abc'],
    ['gcp-prod', 'idbridge-gcp-prod'],
  ])('%s → %s', (cluster, provider) => expect(providerIdFor(cluster)).toBe(provider));

  it('every DNS-label cluster id gives an id Google accepts, deterministically, long ones shortened with a hash', () => {
    const long = `a${'b'.repeat(40)}-${'c'.repeat(20)}`;
    const derived = providerIdFor(long);
    expect(derived).toMatch(/^abbbbbbbbbbbbbbbbbbbbbbbb-[0-9a-f]{6}$/);
    expect(providerIdFor(long)).toBe(derived);
    expect(providerIdFor(`${long}x`)).not.toBe(derived);
    for (const id of [
      'a',
      'a1',
      'x'.repeat(63),
      'gcp-' + 'z'.repeat(59),
      `${'q'.repeat(24)}-${'r'.repeat(30)}`,
      'c-1',
    ]) {
      expect(isResourceId(providerIdFor(id)), id).toBe(true);
    }
  });

  it("gcp-setup for the walk-through's own c1 names the provider idbridge-c1", () => {
    const plan = gcpSetupPlan({
      projectNumber: '123',
      pool: 'idbridge',
      issuer: 'https://edge.example.com/c1',
    });
    expect(plan.provider.provider).toBe('idbridge-c1');
    expect(plan.steps.at(-1)!.argv.join(' ')).toMatch(/\bidbridge-c1\b/);
  });

  it('parseProvider states the rule when a provider or pool id breaks it', () => {
    expect(() =>
      parseProvider('projects/123/locations/global/workloadIdentityPools/idbridge/providers/c1'),
    ).toThrow(
      /provider id "c1" breaks Google's rule for ids \(4-32 characters .*not starting with "gcp-"\)/,
    );
    expect(() =>
      parseProvider(
        'projects/123/locations/global/workloadIdentityPools/gcp-pool/providers/cluster-c1',
      ),
    ).toThrow(/pool id "gcp-pool" breaks/);
    expect(() =>
      parseProvider(
        'projects/123/locations/global/workloadIdentityPools/idbridge/providers/trailing-',
      ),
    ).toThrow(/not starting or ending with "-"/);
  });

  it.each([
    [
      [
        'cred-config',
        'projects/123/locations/global/workloadIdentityPools/idbridge/providers/c1',
        '--credential-source-file=/t',
      ],
    ],
    [
      [
        'doctor',
        '--issuer=https://127.0.0.1:1/c1',
        '--provider=projects/123/locations/global/workloadIdentityPools/idbridge/providers/c1',
      ],
    ],
  ])('%j is refused with the rule, exit 2', async (args) => {
    const result = await runCli(args);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^idbridge: .*provider id "c1" breaks Google's rule for ids \(4-32 characters/,
    );
  });
});
