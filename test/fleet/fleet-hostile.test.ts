import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProvider } from '../../src/credentials/credential-config.js';
import { FLEET_POOL_SET, startFleetStack, type FleetStack } from './stack.js';

const OTHER_PROVIDER = parseProvider(
  'projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-own',
);

/**
 * What fleet mode refuses: each refusal in Google STS's shape (400, as OAuth answers every refused
 * grant), with no mint and no upstream call.
 */
describe('fleet mode refuses, with no mint and no upstream call', () => {
  let stack: FleetStack;
  beforeAll(async () => {
    stack = await startFleetStack();
    await stack.register('fleet-a');
    await stack.register('own', {});
    await stack.register('strict', {
      mode: 'fleet',
      broker: { subjects: ['system:serviceaccount:apps:*'] },
    });
  });
  afterAll(async () => {
    await stack?.close();
  });

  async function refused(
    token: string,
    status: number,
    error: string,
    message: RegExp,
    audience?: string,
  ): Promise<void> {
    const calls = stack.google.calls.token;
    const audits = stack.auditLines().length;
    const res = await stack.exchange(token, audience);
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe(error);
    expect(body.error_description).toMatch(message);
    expect(stack.google.calls.token).toBe(calls);
    const line = stack.auditLines().at(-1)!;
    expect(stack.auditLines().length).toBe(audits + 1);
    expect(line.fleetKid).toBeUndefined(); // nothing was minted
  }

  it('a cluster not in fleet mode asking for the fleet provider', async () => {
    await refused(await stack.token('own'), 400, 'invalid_target', /is not in fleet mode/);
  });

  it('a fleet cluster asking for another provider', async () => {
    const token = await stack.token('fleet-a', 'apps', 'web', OTHER_PROVIDER.audience);
    await refused(
      token,
      400,
      'invalid_target',
      /in fleet mode: its pods exchange against the fleet provider/,
      OTHER_PROVIDER.audience,
    );
  });

  it("a subject the cluster's policy excludes", async () => {
    await refused(
      await stack.token('strict', 'other', 'web'),
      400,
      'unauthorized_client',
      /may not exchange tokens through cluster strict's broker policy/,
    );
  });

  it('a revoked cluster, whose cached answers are dropped at once', async () => {
    const token = await stack.token('fleet-a', 'apps', 'cached');
    expect((await stack.exchange(token)).status).toBe(200);
    const revoke = await stack.admin('PATCH', '/api/v1/clusters/fleet-a', {
      fleet: { revoked: true },
    });
    expect(revoke.status).toBe(200);
    expect(((await revoke.json()) as { cluster: { fleet: unknown } }).cluster.fleet).toEqual({
      revoked: true,
    });
    // The same token, answered from the cache a moment ago, is refused now.
    await refused(
      token,
      400,
      'unauthorized_client',
      /cluster fleet-a is revoked from fleet minting/,
    );
    await refused(
      await stack.token('fleet-a'),
      400,
      'unauthorized_client',
      /revoked from fleet minting/,
    );
    expect((await stack.admin('PATCH', '/api/v1/clusters/fleet-a', { fleet: null })).status).toBe(
      200,
    );
    expect((await stack.exchange(token)).status).toBe(200);
  });

  it('a revoked cluster: access tokens it was issued are no longer relayed to IAM Credentials', async () => {
    const res = await stack.exchange(await stack.token('fleet-a', 'apps', 'relay'));
    const { access_token: accessToken } = (await res.json()) as { access_token: string };
    const impersonate = () =>
      fetch(
        `${stack.serve.url}/v1/projects/-/serviceAccounts/fleet-app@proj.iam.gserviceaccount.com:generateAccessToken`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ scope: ['https://www.googleapis.com/auth/cloud-platform'] }),
        },
      );
    stack.google.serviceAccounts.push({
      email: 'fleet-app@proj.iam.gserviceaccount.com',
      workloadIdentityUsers: [`${FLEET_POOL_SET}/attribute.cluster/fleet-a`],
    });
    expect((await impersonate()).status).toBe(200); // and now cached
    await stack.admin('PATCH', '/api/v1/clusters/fleet-a', { fleet: { revoked: true } });
    const calls = stack.google.calls.generateAccessToken;
    const refused = await impersonate();
    expect(refused.status).toBe(403);
    const body = (await refused.json()) as { error: { status: string; message: string } };
    expect(body.error.status).toBe('PERMISSION_DENIED');
    expect(body.error.message).toMatch(/revoked from fleet minting/);
    expect(stack.google.calls.generateAccessToken).toBe(calls);
    await stack.admin('PATCH', '/api/v1/clusters/fleet-a', { fleet: null });
  });

  it("a revoked subject, while the cluster's other subjects go on", async () => {
    const revoke = await stack.admin('PATCH', '/api/v1/clusters/fleet-a', {
      fleet: { revokedSubjects: ['system:serviceaccount:apps:bad'] },
    });
    expect(revoke.status).toBe(200);
    await refused(
      await stack.token('fleet-a', 'apps', 'bad'),
      400,
      'unauthorized_client',
      /"system:serviceaccount:apps:bad" of cluster fleet-a is revoked/,
    );
    expect((await stack.exchange(await stack.token('fleet-a', 'apps', 'good'))).status).toBe(200);
    await stack.admin('PATCH', '/api/v1/clusters/fleet-a', { fleet: null });
  });

  it('refuses malformed modes and revocations on the admin API, changing nothing', async () => {
    for (const body of [
      { mode: 'fleets' },
      { mode: 7 },
      { fleet: { revoked: 'yes' } },
      { fleet: { revokedSubjects: ['apps:web'] } },
      { fleet: { revokedSubjects: 'system:serviceaccount:apps:web' } },
      { fleet: { everything: true } },
    ]) {
      const res = await stack.admin('PATCH', '/api/v1/clusters/fleet-a', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      const error = ((await res.json()) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('invalid_request');
      expect(error.message).toMatch(/mode|fleet/);
    }
    const view = (await (await stack.admin('GET', '/api/v1/clusters/fleet-a')).json()) as {
      cluster: { mode: string; fleet?: unknown };
    };
    expect(view.cluster.mode).toBe('fleet');
    expect(view.cluster.fleet).toBeUndefined();
  });

  it('makes valid subjects of names of the maximum Kubernetes length', async () => {
    const cluster = `m${'x'.repeat(61)}1`; // 63: the longest DNS label
    await stack.register(cluster);
    const namespace = `n${'a'.repeat(61)}2`; // 63
    const names = [`s${'b'.repeat(251)}3`, `s${'b'.repeat(251)}4`]; // 253: the longest DNS subdomain
    const subjects: string[] = [];
    for (const name of names) {
      const res = await stack.exchange(await stack.token(cluster, namespace, name));
      expect(res.status, await res.clone().text()).toBe(200);
      const assertion = stack.google.assertions.at(-1)!;
      expect(Buffer.byteLength(String(assertion.sub))).toBeLessThanOrEqual(127);
      expect(assertion.service_account).toBe(name);
      subjects.push(String(assertion.sub));
    }
    expect(new Set(subjects).size).toBe(2);
  });
});
