import { describe, expect, it } from 'vitest';
import {
  firstError,
  judgeToken,
  VERIFIER_CLAIM_RULES,
  type RuleContext,
} from '../../src/verify/google-rules.js';

const now = 1_800_000_000;
const context: RuleContext = {
  issuer: 'https://issuer.example/c1',
  now,
  skewSeconds: 60,
  audiences: ['sts'],
};
const header = { alg: 'RS256', kid: 'k1' };
const good = {
  iss: context.issuer,
  sub: 'system:serviceaccount:ns:sa',
  aud: ['sts'],
  iat: now - 10,
  exp: now + 3600,
};

describe("Google's token rules", () => {
  it.each([
    ['a projected ServiceAccount token', good, null],
    ['no sub', { ...good, sub: '' }, 'malformed'],
    ['an issuer with a trailing slash', { ...good, iss: `${context.issuer}/` }, 'wrong_issuer'],
    ['expired beyond the skew', { ...good, exp: now - 61 }, 'expired'],
    ['expired within the skew (the verifier lets it pass)', { ...good, exp: now - 30 }, null],
    [
      'issued in the future beyond the skew',
      { ...good, iat: now + 61, exp: now + 3600 },
      'issued_in_future',
    ],
    ['valid for 48 h', { ...good, iat: now - 10, exp: now - 10 + 48 * 3600 }, 'lifetime_too_long'],
    ['valid for just under 48 h', { ...good, iat: now - 10, exp: now - 11 + 48 * 3600 }, null],
    ['not valid before a future nbf', { ...good, nbf: now + 120 }, 'not_yet_valid'],
    ['another audience', { ...good, aud: 'api' }, 'wrong_audience'],
  ] as const)('verifier driver: %s', (_name, claims, failure) => {
    expect(firstError(VERIFIER_CLAIM_RULES, claims, header, context)?.failure ?? null).toBe(
      failure,
    );
  });

  it('the verifier driver stops at the first error in its order (issuer before clock before audience)', () => {
    const claims = { ...good, iss: 'https://other.example', exp: now - 3600, aud: 'api' };
    expect(firstError(VERIFIER_CLAIM_RULES, claims, header, context)).toMatchObject({
      rule: 'iss',
      failure: 'wrong_issuer',
    });
  });

  it("doctor's driver reports every rule at once, warnings included", () => {
    const claims = {
      ...good,
      iss: 'https://other.example',
      iat: now + 30,
      exp: now + 30 + 49 * 3600,
      aud: 'api',
      sub: `system:serviceaccount:${'n'.repeat(120)}:sa`,
    };
    const judged = judgeToken(claims, { alg: 'ES384' }, context);
    expect(
      Object.fromEntries(
        Object.entries(judged)
          .filter(([, finding]) => finding)
          .map(([rule, finding]) => [rule, `${finding!.severity} ${finding!.failure}`]),
      ),
    ).toEqual({
      alg: 'error unsupported_algorithm',
      iss: 'error wrong_issuer',
      iat: 'warning issued_in_future',
      lifetime: 'error lifetime_too_long',
      aud: 'error wrong_audience',
      subject_length: 'error wrong_subject',
    });
  });

  it('does not judge the audience when none is given (doctor without --provider)', () => {
    const { audiences: _none, ...withoutAudiences } = context;
    expect(judgeToken({ ...good, aud: 'anything' }, header, withoutAudiences).aud).toBeNull();
  });
});
