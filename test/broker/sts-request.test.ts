import { describe, expect, it } from 'vitest';
import {
  parseOptions,
  parseStsTokenRequest,
  upstreamTokenForm,
} from '../../src/broker/sts-request.js';
import { refusal } from './refusal.js';

const FORM = 'application/x-www-form-urlencoded';
const audience =
  '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/idbridge/providers/cluster-c1';
const token = 'eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln';
const fields = {
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  audience,
  scope: 'https://www.googleapis.com/auth/cloud-platform',
  requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
  subject_token: token,
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
};
const form = (extra: Record<string, string> = {}, drop: string[] = []) => {
  const params = new URLSearchParams({ ...fields, ...extra });
  for (const name of drop) params.delete(name);
  return params.toString();
};

describe('parseStsTokenRequest', () => {
  it('reads the form Google libraries send', () => {
    expect(parseStsTokenRequest(`${FORM}; charset=utf-8`, form())).toMatchObject({
      audience,
      provider: { projectNumber: '123456', pool: 'idbridge', provider: 'cluster-c1' },
      scope: 'https://www.googleapis.com/auth/cloud-platform',
      subjectToken: token,
      subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
    });
  });

  it("reads the camelCase JSON of Google's REST reference, options as an object or a string", () => {
    const json = {
      grantType: fields.grant_type,
      audience,
      scope: fields.scope,
      requestedTokenType: fields.requested_token_type,
      subjectToken: token,
      subjectTokenType: fields.subject_token_type,
    };
    const parsed = parseStsTokenRequest(
      'application/json',
      JSON.stringify({ ...json, options: { userProject: 'my-project' } }),
    );
    expect(parsed).toMatchObject({
      audience,
      subjectToken: token,
      options: '{"userProject":"my-project"}',
    });
    expect(
      parseStsTokenRequest(
        'application/json',
        JSON.stringify({ ...json, options: '{"userProject":"my-project"}' }),
      ).options,
    ).toBe('{"userProject":"my-project"}');
  });

  it('ignores client credentials in the body, as it ignores a Basic header', () => {
    expect(
      parseStsTokenRequest(FORM, form({ client_id: 'x', client_secret: 'y' })).subjectToken,
    ).toBe(token);
  });

  it('reads options URL-encoded once more, and twice more', () => {
    const options = '{"userProject":"my-project"}';
    expect(parseStsTokenRequest(FORM, form({ options })).options).toBe(options);
    expect(parseStsTokenRequest(FORM, form({ options: encodeURIComponent(options) })).options).toBe(
      options,
    );
    expect(
      parseStsTokenRequest(FORM, form({ options: encodeURIComponent(encodeURIComponent(options)) }))
        .options,
    ).toBe(options);
    expect(
      parseOptions(` ${encodeURIComponent('{"accessBoundary":{"accessBoundaryRules":[]}}')} `),
    ).toBe('{"accessBoundary":{"accessBoundaryRules":[]}}');
  });

  it('forwards what it accepted, normalized, in the form Google expects', () => {
    const forwarded = new URLSearchParams(
      upstreamTokenForm(
        parseStsTokenRequest(
          FORM,
          form({ scope: 'a  b', options: encodeURIComponent('{"userProject":"p1"}') }),
        ),
      ),
    );
    expect(Object.fromEntries(forwarded)).toEqual({
      ...fields,
      scope: 'a b',
      options: '{"userProject":"p1"}',
    });
  });

  type Case = [
    name: string,
    contentType: string,
    body: string,
    code: string,
    status: number,
    message: RegExp,
  ];
  const cases: Case[] = [
    ['no body', FORM, '', 'invalid_request', 400, /Missing required parameter: "grant_type"/],
    [
      'no subject_token',
      FORM,
      form({}, ['subject_token']),
      'invalid_request',
      400,
      /Missing required parameter: "subject_token"/,
    ],
    [
      'empty subject_token',
      FORM,
      form({ subject_token: '' }),
      'invalid_request',
      400,
      /subject_token/,
    ],
    [
      'a 20 KiB subject_token',
      FORM,
      form({ subject_token: 'a'.repeat(20_000) }),
      'invalid_request',
      400,
      /larger than 16 KiB/,
    ],
    [
      'another grant type',
      FORM,
      form({ grant_type: 'client_credentials' }),
      'unsupported_grant_type',
      400,
      /token exchange only/,
    ],
    [
      'an ID token requested',
      FORM,
      form({ requested_token_type: 'urn:ietf:params:oauth:token-type:id_token' }),
      'invalid_request',
      400,
      /access tokens only/,
    ],
    [
      'a SAML subject token',
      FORM,
      form({ subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' }),
      'invalid_request',
      400,
      /Kubernetes ServiceAccount tokens/,
    ],
    [
      'an audience without //iam.googleapis.com/',
      FORM,
      form({ audience: audience.replace('//iam.googleapis.com/', '') }),
      'invalid_request',
      400,
      /write it as \/\/iam\.googleapis\.com\/projects/,
    ],
    [
      'an audience naming the project by id',
      FORM,
      form({ audience: audience.replace('123456', 'my-project') }),
      'invalid_request',
      400,
      /project NUMBER/,
    ],
    [
      'a workforce pool audience',
      FORM,
      form({ audience: '//iam.googleapis.com/locations/global/workforcePools/p/providers/q' }),
      'invalid_request',
      400,
      /full resource name of the workload identity provider/,
    ],
    [
      'a scope with control characters',
      FORM,
      form({ scope: 'https://x\u0001' }),
      'invalid_scope',
      400,
      /OAuth scopes/,
    ],
    [
      '51 scopes',
      FORM,
      form({ scope: Array.from({ length: 51 }, (_, i) => `s${i}`).join(' ') }),
      'invalid_scope',
      400,
      /at most 50/,
    ],
    [
      'options that are not JSON',
      FORM,
      form({ options: 'userProject=x' }),
      'invalid_request',
      400,
      /"options": it must be a JSON object/,
    ],
    [
      'options with an unknown member',
      FORM,
      form({ options: '{"userProject":"p","impersonate":"root"}' }),
      'invalid_request',
      400,
      /options/,
    ],
    [
      'options with a bad project',
      FORM,
      form({ options: '{"userProject":"Not A Project"}' }),
      'invalid_request',
      400,
      /userProject/,
    ],
    [
      'an unknown parameter',
      FORM,
      form({ actor_token: 'x' }),
      'invalid_request',
      400,
      /Unknown parameter "actor_token"/,
    ],
    [
      'a camelCase name in a form',
      FORM,
      form({}, ['subject_token']) + `&subjectToken=${token}`,
      'invalid_request',
      400,
      /Unknown parameter "subjectToken"/,
    ],
    [
      'a parameter twice',
      FORM,
      `${form()}&audience=${encodeURIComponent(audience)}`,
      'invalid_request',
      400,
      /"audience" is given more than once/,
    ],
    [
      'JSON that is not JSON',
      'application/json',
      '{"grantType":',
      'invalid_request',
      400,
      /not valid JSON/,
    ],
    [
      'options nested 30,000 deep in JSON',
      'application/json',
      `{"options":${'['.repeat(30_000)}${']'.repeat(30_000)}}`,
      'invalid_request',
      400,
      /nests objects and arrays more than 64 levels deep/,
    ],
    [
      'options nested 65 deep in a form',
      FORM,
      form({ options: `{"accessBoundary":${'{"a":'.repeat(64)}1${'}'.repeat(64)}}` }),
      'invalid_request',
      400,
      /"options": the JSON body nests .* more than 64 levels/,
    ],
    ['a JSON array', 'application/json', '[]', 'invalid_request', 400, /must be an object/],
    [
      'a JSON number for a name',
      'application/json',
      JSON.stringify({ audience: 5 }),
      'invalid_request',
      400,
      /"audience": must be a string/,
    ],
    [
      'both spellings in JSON',
      'application/json',
      JSON.stringify({ subjectToken: 'a', subject_token: 'b' }),
      'invalid_request',
      400,
      /more than once/,
    ],
    [
      'text/plain',
      'text/plain',
      form(),
      'invalid_request',
      415,
      /application\/x-www-form-urlencoded/,
    ],
    ['no content type', '', form(), 'invalid_request', 415, /Content-Type/],
  ];

  it.each(cases)('refuses %s', (_name, contentType, body, code, status, message) => {
    const err = refusal(() => parseStsTokenRequest(contentType, body));
    expect(err.sts).toBe(code);
    expect(err.status).toBe(status);
    expect(err.message).toMatch(message);
    expect(err.message).not.toContain(token);
  });
});
