import { z } from 'zod';
import { readGoogleError } from '../broker/google-errors.js';
import type { WorkloadIdentityProvider } from '../credentials/credential-config.js';
import { readCapped } from '../net/read-capped.js';

/**
 * A client of Google's IAM API for one workload identity pool provider: read it, and replace its
 * uploaded keys (`oidc.jwksJson`). The base URL comes from configuration (IDBRIDGE_IAM_URL),
 * never from a request; the bearer from Application Default Credentials.
 */
export const IAM_API = 'https://iam.googleapis.com';
/** A provider is a few KiB; a JWKS of the most keys idbridge accepts is under 64 KiB. */
const MAX_ANSWER_BYTES = 256 * 1024;

/** What sync and doctor need of a provider (the rest of the resource is left alone). */
export const providerResourceSchema = z.looseObject({
  name: z.string(),
  state: z.string().optional(),
  disabled: z.boolean().optional(),
  /** Sent back in the PATCH when Google gives one, so a concurrent change loses with ABORTED. */
  etag: z.string().optional(),
  oidc: z
    .looseObject({
      issuerUri: z.string().optional(),
      allowedAudiences: z.array(z.string()).optional(),
      jwksJson: z.string().optional(),
    })
    .optional(),
});
export type ProviderResource = z.infer<typeof providerResourceSchema>;

/** Google's answer was an error: its status, gRPC status name and message (never a token). */
export class IamApiError extends Error {
  override readonly name = 'IamApiError';
  constructor(
    readonly status: number,
    readonly googleStatus: string | undefined,
    readonly googleMessage: string,
    readonly action: 'get' | 'update',
  ) {
    super(
      `the IAM API answered ${status}${googleStatus ? ` ${googleStatus}` : ''}: ${googleMessage}`,
    );
  }
}

/** The IAM API could not be reached, or answered something that is not Google's JSON. */
export class IamUnreachableError extends Error {
  override readonly name = 'IamUnreachableError';
}

export interface IamProviderClientOptions {
  iamUrl: string;
  /** An OAuth access token for the IAM API (cloud-platform scope); asked for before every call. */
  accessToken: () => Promise<string>;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export class IamProviderClient {
  readonly #options: IamProviderClientOptions;
  readonly #fetch: typeof fetch;

  constructor(options: IamProviderClientOptions) {
    this.#options = { ...options, iamUrl: options.iamUrl.replace(/\/+$/, '') };
    this.#fetch = options.fetch ?? fetch;
  }

  /** `GET /v1/{provider}`. */
  async get(provider: WorkloadIdentityProvider): Promise<ProviderResource> {
    const body = await this.#call('get', 'GET', this.#url(provider));
    const parsed = providerResourceSchema.safeParse(body);
    if (!parsed.success)
      throw new IamUnreachableError(
        `the IAM API answered the provider ${provider.path} with JSON that is not a workload identity pool provider; check IDBRIDGE_IAM_URL`,
      );
    return parsed.data;
  }

  /**
   * `PATCH /v1/{provider}?updateMask=oidc.jwksJson` with the keys (and the etag read, when there
   * was one). Google answers with a long-running operation; whether it is done is returned, and
   * the next sync reads the provider back anyway.
   */
  async putJwks(
    provider: WorkloadIdentityProvider,
    jwksJson: string,
    etag: string | undefined,
  ): Promise<{ done: boolean }> {
    const body = await this.#call(
      'update',
      'PATCH',
      `${this.#url(provider)}?updateMask=oidc.jwksJson`,
      JSON.stringify({ oidc: { jwksJson }, ...(etag !== undefined ? { etag } : {}) }),
    );
    return { done: (body as { done?: unknown } | null)?.done === true };
  }

  #url(provider: WorkloadIdentityProvider): string {
    return `${this.#options.iamUrl}/v1/${provider.path}`;
  }

  async #call(
    action: 'get' | 'update',
    method: string,
    url: string,
    body?: string,
  ): Promise<unknown> {
    const token = await this.#options.accessToken();
    let res: Response;
    let bytes: Uint8Array | null;
    try {
      res = await this.#fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body } : {}),
        signal: AbortSignal.timeout(this.#options.timeoutMs ?? 15_000),
      });
      bytes = await readCapped(res, MAX_ANSWER_BYTES);
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
      throw new IamUnreachableError(
        `cannot reach the IAM API at ${new URL(url).origin} (${cause})`,
        { cause: err },
      );
    }
    if (bytes === null)
      throw new IamUnreachableError(
        `the IAM API answered ${res.status} with more than ${MAX_ANSWER_BYTES / 1024} KiB; check IDBRIDGE_IAM_URL`,
      );
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      json = undefined;
    }
    if (res.ok && json !== undefined) return json;
    if (json && typeof json === 'object' && 'error' in json) {
      const reading = readGoogleError(json as Record<string, unknown>);
      throw new IamApiError(res.status, reading.code, reading.message.slice(0, 1000), action);
    }
    throw new IamUnreachableError(
      `the IAM API answered ${res.status} with a body that is not Google's JSON; check IDBRIDGE_IAM_URL (a proxy's page?)`,
    );
  }
}
