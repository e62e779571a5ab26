import { describe, expect, it } from 'vitest';
import {
  parseIamRequest,
  parseIamTarget,
  parseIntrospectRequest,
} from '../../src/broker/iam-request.js';
import { refusal } from './refusal.js';

const sa = 'app@proj.iam.gserviceaccount.com';
const bearer = 'Bearer ya29.fed.abc-DEF_123';

describe('IAM Credentials requests', () => {
  it('reads the target from the path, percent-encoded or not, by email or unique id', () => {
    expect(parseIamTarget('-', `${sa}:generateAccessToken`)).toEqual({
      serviceAccount: sa,
      method: 'generateAccessToken',
    });
    expect(parseIamTarget('-', `${encodeURIComponent(sa)}:generateIdToken`)).toEqual({
      serviceAccount: sa,
      method: 'generateIdToken',
    });
    expect(parseIamTarget('-', '112233445566778899:generateAccessToken').serviceAccount).toBe(
      '112233445566778899',
    );
  });

  it.each([
    ['a project id instead of "-"', 'my-project', `${sa}:generateAccessToken`, 400, /must be "-"/],
    ['another method', '-', `${sa}:signJwt`, 404, /generateAccessToken and :generateIdToken/],
    ['no method', '-', sa, 404, /generateAccessToken/],
    ['not an account', '-', 'root:generateAccessToken', 400, /service account in the path/],
    ['a broken escape', '-', '%E0%A4%A:generateAccessToken', 400, /service account in the path/],
  ])('refuses a path with %s', (_name, project, target, status, message) => {
    const err = refusal(() => parseIamTarget(project, target));
    expect(err.status).toBe(status);
    expect(err.message).toMatch(message);
  });

  const target = { serviceAccount: sa, method: 'generateAccessToken' as const };
  it('passes a valid body on normalized, dropping the nulls gcloud sends', () => {
    const request = parseIamRequest(
      target,
      bearer,
      'application/json',
      JSON.stringify({
        delegates: null,
        scope: ['https://www.googleapis.com/auth/cloud-platform'],
        lifetime: '3600s',
      }),
    );
    expect(request).toEqual({
      ...target,
      authorization: bearer,
      body: '{"scope":["https://www.googleapis.com/auth/cloud-platform"],"lifetime":"3600s"}',
    });
    const id = parseIamRequest(
      { serviceAccount: sa, method: 'generateIdToken' },
      bearer,
      'application/json; charset=utf-8',
      JSON.stringify({ audience: 'https://run.app', includeEmail: true }),
    );
    expect(JSON.parse(id.body)).toEqual({ audience: 'https://run.app', includeEmail: true });
  });

  it.each([
    [
      'no Authorization',
      undefined,
      'application/json',
      '{"scope":["s"]}',
      401,
      /Authorization: Bearer/,
    ],
    [
      'Basic credentials',
      'Basic dXNlcjpwYXNz',
      'application/json',
      '{"scope":["s"]}',
      401,
      /Authorization: Bearer/,
    ],
    [
      'a bearer with spaces',
      'Bearer a b',
      'application/json',
      '{"scope":["s"]}',
      401,
      /Authorization: Bearer/,
    ],
    [
      'a 5 KiB bearer',
      `Bearer ${'a'.repeat(5000)}`,
      'application/json',
      '{"scope":["s"]}',
      401,
      /Authorization: Bearer/,
    ],
    [
      'a form body',
      bearer,
      'application/x-www-form-urlencoded',
      'scope=s',
      415,
      /application\/json/,
    ],
    ['broken JSON', bearer, 'application/json', '{', 400, /Invalid JSON payload/],
    [
      'JSON nested 30,000 deep',
      bearer,
      'application/json',
      `{"scope":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
      400,
      /Invalid JSON payload received: .* more than 64 levels deep/,
    ],
    ['no scope', bearer, 'application/json', '{}', 400, /"scope"/],
    ['an empty scope list', bearer, 'application/json', '{"scope":[]}', 400, /at least one scope/],
    [
      'a lifetime in minutes',
      bearer,
      'application/json',
      '{"scope":["s"],"lifetime":"60m"}',
      400,
      /duration in seconds/,
    ],
    [
      'an unknown field',
      bearer,
      'application/json',
      '{"scope":["s"],"owner":true}',
      400,
      /Unknown name "owner"/,
    ],
    [
      'a delegate that is not an account',
      bearer,
      'application/json',
      '{"scope":["s"],"delegates":["x"]}',
      400,
      /projects\/-\/serviceAccounts/,
    ],
  ])('refuses %s', (_name, authorization, contentType, body, status, message) => {
    const err = refusal(() => parseIamRequest(target, authorization, contentType, body));
    expect(err.status).toBe(status);
    expect(err.message).toMatch(message);
  });
});

describe('STS introspection requests', () => {
  it('re-encodes the known parameters and keeps the client credentials for Google', () => {
    expect(
      parseIntrospectRequest(
        'Basic Y2xpZW50OnNlY3JldA==',
        'application/x-www-form-urlencoded',
        'token=ya29.x&token_type_hint=access_token&extra=1',
      ),
    ).toEqual({
      body: 'token=ya29.x&token_type_hint=access_token',
      token: 'ya29.x',
      authorization: 'Basic Y2xpZW50OnNlY3JldA==',
    });
  });

  it.each([
    [
      'no token',
      'application/x-www-form-urlencoded',
      'token_type_hint=access_token',
      400,
      /"token"/,
    ],
    [
      'a 5 KiB token',
      'application/x-www-form-urlencoded',
      `token=${'a'.repeat(5000)}`,
      400,
      /longer than any Google access token/,
    ],
    ['JSON', 'application/json', '{"token":"x"}', 415, /x-www-form-urlencoded/],
  ])('refuses %s', (_name, contentType, body, status, message) => {
    const err = refusal(() => parseIntrospectRequest(undefined, contentType, body));
    expect(err.status).toBe(status);
    expect(err.message).toMatch(message);
  });
});
