import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkClientId, checkRole, cloudAudiences } from '../../src/broker/policy.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { generateClusterKey, jwksOf } from '../support/keys.js';
import { startServe, type ServeHarness } from '../support/serve.js';
import { refusal } from './refusal.js';

const record = (broker: ClusterRecord['broker']): ClusterRecord =>
  ({ id: 'c1', ...(broker ? { broker } : {}) }) as ClusterRecord;

describe('broker policy for AWS roles and Entra client ids', () => {
  it('allows every role and client id without a list', () => {
    expect(() => checkRole(record(undefined), 'arn:aws:iam::123456789012:role/any')).not.toThrow();
    expect(() =>
      checkClientId(record(undefined), '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0'),
    ).not.toThrow();
  });

  it('matches role patterns within one ":" part, so no pattern reaches another account', () => {
    const policy = record({ roles: ['arn:aws:iam::123456789012:role/team-a-*'] });
    expect(() => checkRole(policy, 'arn:aws:iam::123456789012:role/team-a-web')).not.toThrow();
    expect(() => checkRole(policy, 'arn:aws:iam::123456789012:role/team-a-x/y')).not.toThrow();
    const err = refusal(() => checkRole(policy, 'arn:aws:iam::999999999999:role/team-a-web'));
    expect(err.code).toBe('role_not_allowed');
    expect(err.message).toMatch(/PATCH \/api\/v1\/clusters\/c1/);
  });

  it('compares client ids case-insensitively, and takes "*"', () => {
    const policy = record({ clientIds: ['0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0'] });
    expect(() => checkClientId(policy, '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0')).not.toThrow();
    expect(refusal(() => checkClientId(policy, '11111111-2222-3333-4444-555555555555')).code).toBe(
      'client_not_allowed',
    );
    expect(() =>
      checkClientId(record({ clientIds: ['*'] }), '11111111-2222-3333-4444-555555555555'),
    ).not.toThrow();
  });

  it("keeps each cloud's audiences apart from Google's", () => {
    const policy = record({ audiences: ['sts.googleapis.com'] });
    expect(cloudAudiences(policy, 'aws')).toEqual(['sts.amazonaws.com']);
    expect(cloudAudiences(policy, 'azure')).toEqual(['api://AzureADTokenExchange']);
    expect(cloudAudiences(record({ awsAudiences: ['irsa'] }), 'aws')).toEqual(['irsa']);
  });
});

describe('registration API: the AWS and Entra policy lists', () => {
  let serve: ServeHarness;
  beforeAll(async () => {
    serve = await startServe();
  });
  afterAll(async () => {
    await serve?.close();
  });
  const create = (id: string, broker: unknown) =>
    fetch(`${serve.url}/api/v1/clusters`, {
      method: 'POST',
      headers: { authorization: `Bearer ${serve.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id, jwks: jwksOf(generateClusterKey('ES256')), broker }),
    });

  it.each([
    [
      'a role pattern that is not a role ARN',
      { roles: ['arn:aws:iam::123456789012:user/bob'] },
      /is not a role pattern/,
    ],
    [
      'an account id of 11 digits',
      { roles: ['arn:aws:iam::12345678901:role/x'] },
      /is not a role pattern/,
    ],
    ['a role pattern with 5 "*"', { roles: ['arn:*:iam::*:role/*-*-*'] }, /at most 4 per pattern/],
    ['a client id that is not a GUID', { clientIds: ['my-app'] }, /is not a client id/],
    ['an empty AWS audience', { awsAudiences: [''] }, /awsAudiences/],
  ])('refuses %s', async (_name, broker, message) => {
    const res = await create('p1', broker);
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(message);
  });

  it('stores good lists', async () => {
    const broker = {
      roles: ['arn:aws:iam::123456789012:role/team-a-*'],
      clientIds: ['0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0', '*'],
      awsAudiences: ['sts.amazonaws.com'],
      azureAudiences: ['api://AzureADTokenExchange'],
    };
    const res = await create('p2', broker);
    expect(res.status).toBe(201);
    expect(((await res.json()) as { cluster: { broker: unknown } }).cluster.broker).toEqual(broker);
  });

  it('reserves the cluster ids aws and azure for the broker routes', async () => {
    for (const id of ['aws', 'azure']) {
      const res = await create(id, undefined);
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(/reserved/);
    }
  });
});
