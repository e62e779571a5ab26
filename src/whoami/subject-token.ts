import { describeFetchError } from '../net/fetch-error.js';
import { IdbridgeError } from '../errors.js';
import type { z } from 'zod';
import type { externalAccountConfigSchema } from '../credentials/credential-config.js';

type CredentialSource = z.infer<typeof externalAccountConfigSchema>['credential_source'];

export interface SourceDeps {
  readFile: (path: string) => Promise<string>;
  fetch: typeof fetch;
  timeoutMs: number;
}

/**
 * Reads the subject token the way Google's libraries do: from credential_source.file or .url,
 * as text or as a JSON field (format.type / format.subject_token_field_name).
 */
export async function readSubjectToken(
  source: CredentialSource,
  deps: SourceDeps,
): Promise<{ token: string; from: string }> {
  const format = (source.format ?? { type: 'text' }) as {
    type?: unknown;
    subject_token_field_name?: unknown;
  };
  let raw: string;
  let from: string;
  if (typeof source.file === 'string') {
    from = source.file;
    try {
      raw = await deps.readFile(source.file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new IdbridgeError(
        'invalid_request',
        code === 'ENOENT'
          ? `the token file ${source.file} does not exist: is the projected serviceAccountToken volume mounted there (the idbridge webhook mounts it in annotated pods)?`
          : `cannot read the token file ${source.file}: ${code ?? (err as Error).message}`,
      );
    }
  } else if (typeof source.url === 'string') {
    from = source.url;
    const headers = (source.headers ?? {}) as Record<string, string>;
    const res = await deps
      .fetch(source.url, { headers, signal: AbortSignal.timeout(deps.timeoutMs) })
      .catch((err: Error) => {
        throw new IdbridgeError(
          'invalid_request',
          `cannot fetch the subject token from ${source.url}: ${describeFetchError(err, deps.timeoutMs)}`,
        );
      });
    if (!res.ok)
      throw new IdbridgeError(
        'invalid_request',
        `the subject token URL ${source.url} answered HTTP ${res.status}`,
      );
    raw = await res.text();
  } else {
    throw new IdbridgeError(
      'invalid_request',
      'credential_source has neither "file" nor "url": a Kubernetes pod reads its projected token from a file',
    );
  }
  if (format.type === 'json') {
    const field =
      typeof format.subject_token_field_name === 'string' ? format.subject_token_field_name : '';
    let value: unknown;
    try {
      value = (JSON.parse(raw) as Record<string, unknown>)[field];
    } catch {
      value = undefined;
    }
    if (typeof value !== 'string')
      throw new IdbridgeError(
        'invalid_request',
        `${from} is not JSON with a string field ${JSON.stringify(field)} (credential_source.format says so)`,
      );
    raw = value;
  }
  const token = raw.trim();
  if (token === '')
    throw new IdbridgeError('invalid_request', `the subject token at ${from} is empty`);
  return { token, from };
}
