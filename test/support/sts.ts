/**
 * Google STS's token exchange as the SDKs send it: a JWT subject token for a cloud-platform
 * access token, form-encoded to `BASE/v1/token` (the fake Google, the broker, or serve).
 */
export function stsExchangeForm(
  subjectToken: string,
  audience: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    audience,
    scope: 'https://www.googleapis.com/auth/cloud-platform',
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    subject_token: subjectToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    ...extra,
  };
}

export function postStsExchange(
  baseUrl: string,
  subjectToken: string,
  audience: string,
): Promise<Response> {
  return fetch(`${baseUrl}/v1/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(stsExchangeForm(subjectToken, audience)).toString(),
  });
}
