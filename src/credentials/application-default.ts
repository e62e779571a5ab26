import type { GoogleAuth } from 'google-auth-library';

/**
 * Application Default Credentials through google-auth-library, the one way idbridge gets its own
 * Google access tokens (sync's IAM API calls, the fleet signer's Cloud KMS calls): the file
 * `keyFilename` names, or the library's own search when it is undefined (GOOGLE_APPLICATION_CREDENTIALS,
 * including an `external_account` configuration; gcloud's application default login; the
 * metadata server). The library caches each token and refreshes it before it expires.
 */
export function applicationDefaultTokens(options: {
  scopes: readonly string[];
  keyFilename?: string;
}): () => Promise<string> {
  let auth: Promise<GoogleAuth> | undefined;
  return async () => {
    auth ??= import('google-auth-library').then(
      ({ GoogleAuth }) =>
        new GoogleAuth({
          scopes: [...options.scopes],
          ...(options.keyFilename !== undefined ? { keyFilename: options.keyFilename } : {}),
        }),
    );
    let token: string | null | undefined;
    try {
      token = await (await auth).getAccessToken();
    } catch (err) {
      throw adcError(err, options.keyFilename);
    }
    if (!token)
      throw new AdcError('refused', 'Application Default Credentials gave no access token');
    return token;
  };
}

/**
 * Why no token came: `no-credentials` (nothing found, or a credential file that cannot be read
 * or parsed: a configuration to set), `refused` (Google or the credential source refused them
 * with a 4xx: a configuration to fix), `unavailable` (anything else, e.g. unreachable or a 5xx:
 * worth retrying).
 */
export type AdcFailureKind = 'no-credentials' | 'refused' | 'unavailable';

/** A failure of Application Default Credentials; its message holds no token. */
export class AdcError extends Error {
  override readonly name = 'AdcError';
  constructor(
    readonly kind: AdcFailureKind,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

function adcError(err: unknown, keyFilename: string | undefined): AdcError {
  // JSON.parse may quote the text it failed on: a broken key file must not reach a message.
  const raw = err instanceof Error ? err.message : '';
  if (err instanceof SyntaxError || /^Invalid JSON key file|is not valid JSON/.test(raw))
    return new AdcError(
      'no-credentials',
      `${keyFilename ?? 'the credential file'} is not valid JSON`,
      undefined,
      { cause: err },
    );
  const message = withoutTokens(
    err instanceof Error ? err.message.split('\n')[0]!.slice(0, 500) : String(err).slice(0, 500),
  );
  // Nothing found, or a credential file that cannot be read or parsed: a configuration to fix.
  const code = (err as { code?: unknown }).code;
  if (
    /default credentials/i.test(message) ||
    // The library's checks of a credential file's fields (client_email, type, audience, …).
    /^The incoming JSON object|^Unable to parse|credential_source/.test(message) ||
    (typeof code === 'string' && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR'].includes(code))
  )
    return new AdcError('no-credentials', message, undefined, { cause: err });
  const status = (err as { status?: unknown; response?: { status?: unknown } }).response?.status;
  if (typeof status === 'number' && status >= 400 && status < 500 && status !== 429)
    return new AdcError('refused', message, status, { cause: err });
  return new AdcError('unavailable', message, typeof status === 'number' ? status : undefined, {
    cause: err,
  });
}

/** Tokens never reach a message: JWTs and Google access tokens are cut out of anything quoted. */
export function withoutTokens(text: string): string {
  return text
    .replace(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '[token]')
    .replace(/ya29\.[A-Za-z0-9_.-]+/g, '[token]');
}
