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
    /** The long-running operation that ended with this error (`done` with `error`), when it was one. */
    readonly operation?: string,
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

/** A write's operation was still not done at the deadline: the write may still land. */
export class IamOperationTimeoutError extends Error {
  override readonly name = 'IamOperationTimeoutError';
  constructor(
    readonly operation: string,
    readonly waitedMs: number,
  ) {
    super(`operation ${operation} was not done after ${Math.round(waitedMs / 1000)} s`);
  }
}

/**
 * google.rpc.Status codes (what an operation's `error.code` holds) as the HTTP status and gRPC
 * name Google's JSON errors carry, so a failed operation reads like a refused call.
 */
const RPC_CODES: Readonly<Record<number, readonly [number, string]>> = {
  1: [499, 'CANCELLED'],
  2: [500, 'UNKNOWN'],
  3: [400, 'INVALID_ARGUMENT'],
  4: [504, 'DEADLINE_EXCEEDED'],
  5: [404, 'NOT_FOUND'],
  6: [409, 'ALREADY_EXISTS'],
  7: [403, 'PERMISSION_DENIED'],
  8: [429, 'RESOURCE_EXHAUSTED'],
  9: [400, 'FAILED_PRECONDITION'],
  10: [409, 'ABORTED'],
  11: [400, 'OUT_OF_RANGE'],
  12: [501, 'UNIMPLEMENTED'],
  13: [500, 'INTERNAL'],
  14: [503, 'UNAVAILABLE'],
  15: [500, 'DATA_LOSS'],
  16: [401, 'UNAUTHENTICATED'],
};

/** google.longrunning.Operation, as far as sync reads it. */
const operationSchema = z.looseObject({
  name: z.string().max(1000),
  done: z.boolean().optional(),
  error: z.looseObject({ code: z.number().optional(), message: z.string().optional() }).optional(),
  response: z.unknown().optional(),
});
type Operation = z.infer<typeof operationSchema>;

/** One operation id: a single path segment Google generates (never `.`, `..` or a `/`). */
const OPERATION_ID = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$/;
/** First wait before reading an operation again; doubled per read up to the cap. */
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 5_000;

export interface IamProviderClientOptions {
  iamUrl: string;
  /** An OAuth access token for the IAM API (cloud-platform scope); asked for before every call. */
  accessToken: () => Promise<string>;
  fetch?: typeof fetch;
  timeoutMs?: number;
  /**
   * How long a write's long-running operation is read again before sync gives up on it (the write
   * may still land). Default: four request timeouts (60 s).
   */
  operationDeadlineMs?: number;
  /** Waits between operation reads, and the clock the deadline is measured on (tests inject both). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
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
   * was one). Google answers with a long-running operation, which is read again
   * (`GET /v1/{operation}`, backing off from 250 ms to 5 s) until it is done: resolves once it
   * is done with a `response`; `done` with an `error` is an IamApiError (Google's status and
   * message), still running at the deadline an IamOperationTimeoutError, and an answer that is
   * not an operation of this provider an IamUnreachableError (nothing is fetched from a name
   * outside the provider).
   */
  async putJwks(
    provider: WorkloadIdentityProvider,
    jwksJson: string,
    etag: string | undefined,
  ): Promise<{ operation: string; polls: number }> {
    const now = this.#options.now ?? Date.now;
    const sleep = this.#options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
    const deadline = this.#options.operationDeadlineMs ?? 4 * (this.#options.timeoutMs ?? 15_000);
    const started = now();
    let operation = this.#operation(
      provider,
      await this.#call(
        'update',
        'PATCH',
        `${this.#url(provider)}?updateMask=oidc.jwksJson`,
        JSON.stringify({ oidc: { jwksJson }, ...(etag !== undefined ? { etag } : {}) }),
      ),
    );
    const name = operation.name;
    let polls = 0;
    for (
      let wait = POLL_FIRST_MS;
      operation.done !== true;
      wait = Math.min(POLL_MAX_MS, 2 * wait)
    ) {
      const waited = now() - started;
      if (waited + wait > deadline) throw new IamOperationTimeoutError(name, waited);
      await sleep(wait);
      polls++;
      operation = this.#operation(
        provider,
        await this.#call('update', 'GET', `${this.#options.iamUrl}/v1/${name}`),
        name,
      );
    }
    if (operation.error) {
      const code = operation.error.code ?? 2;
      const [status, googleStatus] = RPC_CODES[code] ?? [500, 'UNKNOWN'];
      throw new IamApiError(
        status,
        googleStatus,
        (operation.error.message ?? 'no message').slice(0, 1000),
        'update',
        name,
      );
    }
    return { operation: name, polls };
  }

  /** The answer of a write or of an operation read, refused unless it is this provider's operation. */
  #operation(provider: WorkloadIdentityProvider, body: unknown, expected?: string): Operation {
    const about = `the update of provider ${provider.path}`;
    const parsed = operationSchema.safeParse(body);
    if (!parsed.success)
      throw new IamUnreachableError(
        `the IAM API answered ${about} with JSON that is not a long-running operation (no "name"); check IDBRIDGE_IAM_URL`,
      );
    const operation = parsed.data;
    const prefix = `${provider.path}/operations/`;
    const id = operation.name.startsWith(prefix) ? operation.name.slice(prefix.length) : '';
    if (!OPERATION_ID.test(id) || (expected !== undefined && operation.name !== expected))
      throw new IamUnreachableError(
        `the IAM API answered ${about} with operation ${JSON.stringify(operation.name.slice(0, 200))}, which is not ${expected ? `the operation it started (${expected})` : `an operation of that provider (${prefix}ID)`}; nothing was read from it. Check IDBRIDGE_IAM_URL`,
      );
    if (
      operation.done === true &&
      operation.error === undefined &&
      operation.response === undefined
    )
      throw new IamUnreachableError(
        `the IAM API answered ${about} with operation ${operation.name} done but with neither "response" nor "error"; whether the keys were written is unknown, the next attempt reads the provider again. Check IDBRIDGE_IAM_URL`,
      );
    return operation;
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
