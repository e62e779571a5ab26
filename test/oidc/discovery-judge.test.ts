import { describe, expect, it } from 'vitest';
import { buildDiscovery, judgeDiscovery } from '../../src/oidc/discovery.js';

const issuer = 'https://issuer.example/c1';
const good = buildDiscovery(issuer, []);

describe('the one discovery judge', () => {
  it.each([
    ['a document idbridge or kube-apiserver publishes', good, { issuers: [issuer] }, []],
    [
      'a trailing slash on the issuer',
      { ...good, issuer: `${issuer}/` },
      { issuers: [issuer] },
      [{ path: 'issuer', rule: 'issuer', severity: 'error' }],
    ],
    [
      'no issuer at all',
      { ...good, issuer: undefined },
      { issuers: [issuer] },
      [
        { path: 'issuer', rule: 'required', severity: 'error' },
        { path: 'issuer', rule: 'shape', severity: 'error' },
      ],
    ],
    [
      'a misshapen but usable document',
      { issuer, jwks_uri: `${issuer}/openid/v1/jwks` },
      {},
      [
        { path: 'response_types_supported', rule: 'shape', severity: 'error' },
        { path: 'subject_types_supported', rule: 'shape', severity: 'error' },
        { path: 'id_token_signing_alg_values_supported', rule: 'shape', severity: 'error' },
      ],
    ],
    [
      'not an object',
      'hello',
      {},
      [
        { path: 'issuer', rule: 'required', severity: 'error' },
        { path: 'jwks_uri', rule: 'required', severity: 'error' },
        { path: '', rule: 'shape', severity: 'error' },
      ],
    ],
    [
      'a document over the size limit',
      { ...good, padding: 'x'.repeat(2048) },
      { maxBytes: 1024 },
      [{ path: '', rule: 'size', severity: 'error' }],
    ],
  ] as const)('%s', (_name, input, expectations, expected) => {
    const judged = judgeDiscovery(input, expectations);
    expect(judged.findings.map(({ path, rule, severity }) => ({ path, rule, severity }))).toEqual(
      expected,
    );
    for (const finding of judged.findings) expect(finding.message).not.toBe('');
  });

  it('names the issuer even when the rest is misshapen, so doctor can still compare it', () => {
    const judged = judgeDiscovery({ issuer: `${issuer}/`, jwks_uri: 'x' }, { issuers: [issuer] });
    expect(judged.issuer).toBe(`${issuer}/`);
    expect(judged.document).toBeUndefined();
    expect(judged.findings.find((f) => f.rule === 'issuer')?.message).toBe(
      `issuer "${issuer}/" is not "${issuer}"`,
    );
  });
});
