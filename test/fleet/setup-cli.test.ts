import { describe, expect, it } from 'vitest';
import {
  FLEET_ATTRIBUTE_MAPPING,
  FLEET_CONDITION,
  fleetSetupPlan,
} from '../../src/gcp-setup/fleet-plan.js';
import { runCli } from '../support/cli.js';
import { gcloudAgainstIamFake } from '../support/gcloud-iam.js';

const SA = 'app@proj.iam.gserviceaccount.com';
const POOL = 'projects/123456/locations/global/workloadIdentityPools/idbridge';
const FLEET = `${POOL}/providers/idbridge-fleet`;

describe('gcp-setup --fleet: the printed commands, run by gcloud against a fake IAM API', () => {
  const gcloud = gcloudAgainstIamFake(170_000);

  it('creates the pool, the one fleet provider and a grant by attribute.cluster', async () => {
    const { iam } = gcloud;
    const cli = await runCli([
      'gcp-setup',
      '--fleet',
      '--project-number=123456',
      '--issuer=https://idbridge.example.com/_fleet',
      '--cluster=a',
      `--service-account=${SA}`,
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    const result = await gcloud.run(cli.stdout);
    expect(result.code, result.stderr).toBe(0);
    expect(iam.providers.get(FLEET)).toMatchObject({
      oidc: { issuerUri: 'https://idbridge.example.com/_fleet' },
      attributeMapping: FLEET_ATTRIBUTE_MAPPING,
      attributeCondition: FLEET_CONDITION,
    });
    expect(iam.policies.get(SA)?.bindings).toEqual([
      {
        role: 'roles/iam.workloadIdentityUser',
        members: [`principalSet://iam.googleapis.com/${POOL}/attribute.cluster/a`],
      },
    ]);
  }, 180_000);
});

describe('gcp-setup --fleet plans', () => {
  const base = {
    projectNumber: '123456',
    pool: 'idbridge',
    issuer: 'https://idbridge.example.com/_fleet',
  };

  it('grants by namespace or by one cluster ServiceAccount (its minted subject)', () => {
    expect(fleetSetupPlan({ ...base, namespace: 'apps' }).member).toBe(
      `principalSet://iam.googleapis.com/${POOL}/attribute.namespace/apps`,
    );
    expect(
      fleetSetupPlan({ ...base, cluster: 'a', namespace: 'apps', kubeServiceAccount: 'web' })
        .member,
    ).toBe(`principal://iam.googleapis.com/${POOL}/subject/a:apps:web`);
    expect(fleetSetupPlan(base).audience).toBe(`//iam.googleapis.com/${FLEET}`);
  });

  it.each([
    [{ issuer: 'https://idbridge.example.com/c1' }, /--issuer is the fleet issuer/],
    [{ cluster: 'A_1' }, /--cluster "A_1" is not a cluster id/],
    [{ namespace: 'apps', kubeServiceAccount: 'web' }, /needs --cluster and --namespace/],
    [{ serviceAccount: SA }, /--service-account needs --cluster/],
    [{ serviceAccount: 'nope', cluster: 'a' }, /not a Google service account email/],
    [{ provider: 'x' }, /provider id "x" is not valid/],
    [{ projectNumber: 'my-project' }, /--project-number must be the project NUMBER/],
  ])('refuses %j', (input, message) => {
    expect(() => fleetSetupPlan({ ...base, ...input })).toThrow(message);
  });

  it('the CLI refuses --cluster without --fleet, and cred-config --fleet without --broker', async () => {
    const setup = await runCli([
      'gcp-setup',
      '--project-number=123456',
      '--issuer=https://edge.example.com/c1',
      '--cluster=a',
    ]);
    expect(setup.code).not.toBe(0);
    expect(setup.stderr).toMatch(/--cluster names a cluster of the fleet provider: add --fleet/);
    const cred = await runCli([
      'cred-config',
      '--fleet',
      FLEET,
      '--credential-source-file=/var/run/secrets/tokens/gcp',
    ]);
    expect(cred.code).not.toBe(0);
    expect(cred.stdout).toBe('');
    expect(cred.stderr).toMatch(/--fleet needs --broker URL/);
    const ok = await runCli([
      'cred-config',
      '--fleet',
      FLEET,
      '--credential-source-file=/var/run/secrets/tokens/gcp',
      '--broker=https://broker.example.com',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      audience: `//iam.googleapis.com/${FLEET}`,
      token_url: 'https://broker.example.com/v1/token',
    });
  }, 60_000);
});
