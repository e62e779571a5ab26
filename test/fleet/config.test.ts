import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { FLEET_PROVIDER } from './stack.js';

const base = { IDBRIDGE_STORE: 'memory:' };

describe('fleet configuration', () => {
  it('is off without IDBRIDGE_FLEET_PROVIDER, on with it (the //iam.googleapis.com/ form too)', () => {
    expect(loadConfig(base).fleet).toBeUndefined();
    expect(
      loadConfig({ ...base, IDBRIDGE_FLEET_PROVIDER: `//iam.googleapis.com/${FLEET_PROVIDER}` })
        .fleet,
    ).toEqual({
      provider: FLEET_PROVIDER,
      signer: { kind: 'local' },
      rotationSeconds: 30 * 86400,
      leadSeconds: 3600,
      kmsUrl: 'https://cloudkms.googleapis.com',
    });
    expect(
      loadConfig({
        ...base,
        IDBRIDGE_FLEET_PROVIDER: FLEET_PROVIDER,
        IDBRIDGE_FLEET_SIGNER:
          'gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3',
      }).fleet?.signer,
    ).toEqual({
      kind: 'kms',
      keyVersion: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3',
      alsoPublish: [],
    });
    expect(
      loadConfig({
        ...base,
        IDBRIDGE_FLEET_PROVIDER: FLEET_PROVIDER,
        IDBRIDGE_FLEET_SIGNER:
          'gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3',
        IDBRIDGE_FLEET_KMS_PUBLISH:
          'gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/4',
      }).fleet?.signer,
    ).toMatchObject({
      alsoPublish: ['projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/4'],
    });
  });

  it.each([
    [
      { IDBRIDGE_FLEET_PROVIDER: 'projects/my-proj/pools/x' },
      /IDBRIDGE_FLEET_PROVIDER must be projects\/PROJECT_NUMBER/,
    ],
    [{ IDBRIDGE_FLEET_PROVIDER: `${FLEET_PROVIDER}/` }, /IDBRIDGE_FLEET_PROVIDER must be/],
    [
      { IDBRIDGE_FLEET_SIGNER: 'kms://key' },
      /IDBRIDGE_FLEET_SIGNER must be "local" or gcpkms:\/\//,
    ],
    [
      { IDBRIDGE_FLEET_SIGNER: 'gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k' },
      /cryptoKeyVersions\/N/,
    ],
    [{ IDBRIDGE_FLEET_KEY_ROTATION_SECONDS: '60' }, /IDBRIDGE_FLEET_KEY_ROTATION_SECONDS/],
    [
      { IDBRIDGE_FLEET_KEY_ROTATION_SECONDS: '7200', IDBRIDGE_FLEET_KEY_LEAD_SECONDS: '7200' },
      /IDBRIDGE_FLEET_KEY_LEAD_SECONDS must be less than IDBRIDGE_FLEET_KEY_ROTATION_SECONDS/,
    ],
    [{ IDBRIDGE_KMS_URL: 'ftp://kms' }, /IDBRIDGE_KMS_URL must use https/],
    [{ IDBRIDGE_FLEET_KMS_PUBLISH: 'local' }, /lists KMS key versions only/],
    [{ IDBRIDGE_FLEET_KMS_PUBLISH: 'gcpkms://x' }, /each entry of IDBRIDGE_FLEET_KMS_PUBLISH/],
  ])('refuses %j with what to fix', (env, message) => {
    expect(() => loadConfig({ ...base, IDBRIDGE_FLEET_PROVIDER: FLEET_PROVIDER, ...env })).toThrow(
      message,
    );
  });
});
