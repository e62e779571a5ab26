import { BrokerError } from './google-errors.js';
import {
  AnswerTooLarge,
  nodeTransport,
  TransportTimeout,
  type Transport,
} from './http-transport.js';

/** The endpoints the broker calls (Google, AWS STS, Entra ID); base URLs come from configuration only. */
export type UpstreamEndpoint =
  | 'token'
  | 'introspect'
  | 'generateAccessToken'
  | 'generateIdToken'
  | 'assumeRoleWithWebIdentity'
  | 'entraToken';

/** How each upstream is named in messages, and the setting that points at it. */
const UPSTREAMS: Record<UpstreamEndpoint, { name: string; setting: string }> = {
  token: { name: 'Google STS', setting: 'IDBRIDGE_STS_URL' },
  introspect: { name: 'Google STS', setting: 'IDBRIDGE_STS_URL' },
  generateAccessToken: { name: 'Google IAM Credentials', setting: 'IDBRIDGE_IAMCREDENTIALS_URL' },
  generateIdToken: { name: 'Google IAM Credentials', setting: 'IDBRIDGE_IAMCREDENTIALS_URL' },
  assumeRoleWithWebIdentity: { name: 'AWS STS', setting: 'IDBRIDGE_BROKER_AWS_STS_URL' },
  entraToken: { name: 'Entra ID', setting: 'IDBRIDGE_BROKER_AZURE_AUTHORITY_URL' },
};

export interface UpstreamRequest {
  endpoint: UpstreamEndpoint;
  url: string;
  contentType: string;
  body: string;
  /** Passed through unchanged: the caller's credential for Google, never the broker's. */
  authorization?: string;
  /** What the answer must be to be relayed (default JSON): AWS STS answers XML. */
  format?: AnswerFormat;
}

/** How an answer is read before it is relayed: parsed to an object, or null when it is not one. */
export interface AnswerFormat {
  accept: string;
  /** `json` or `xml`, for the message when the answer does not parse. */
  name: string;
  parse(body: string): Record<string, unknown> | null;
}

const JSON_FORMAT: AnswerFormat = {
  accept: 'application/json',
  name: 'JSON',
  parse(body) {
    try {
      const value: unknown = JSON.parse(body);
      return typeof value === 'object' && value !== null
        ? (value as Record<string, unknown>)
        : null;
    } catch {
      return null;
    }
  },
};

/** What Google answered, to be relayed as it is. */
export interface UpstreamAnswer {
  status: number;
  body: string;
  /** `body` parsed (checked to be a JSON object, or an XML document where the request said so, before it is relayed). */
  json: Record<string, unknown>;
  contentType: string;
  retryAfter?: string;
  attempts: number;
}

/** How one attempt ended: an HTTP status, or why there was none. */
export type AttemptOutcome = number | 'timeout' | 'refused' | 'network' | 'too_large';

export interface UpstreamClientOptions {
  /** Each attempt (connect, send, read the answer) is abandoned after this long. */
  timeoutMs: number;
  attempts: number;
  /** First retry delay; doubles with each retry, with jitter. */
  backoffMs?: number;
  maxBackoffMs?: number;
  transport?: Transport;
  random?: () => number;
  onAttempt?: (endpoint: UpstreamEndpoint, outcome: AttemptOutcome, seconds: number) => void;
  /** How failure messages name the timeout setting and the route to fix; default the broker's. */
  hints?: { timeoutSetting: string; route: string };
}

const BROKER_HINTS = {
  timeoutSetting: 'IDBRIDGE_BROKER_UPSTREAM_TIMEOUT_MS',
  route: "the broker's route to Google",
};

/** Google's token answers are a few hundred bytes; anything near this is not one. */
const MAX_ANSWER_BYTES = 256 * 1024;

/**
 * Calls Google with bounded timeouts and retries where repeating is safe: after a timeout or a
 * network failure, and on 429 and 5xx. All four endpoints mint or read tokens and change
 * nothing at Google, so a repeated call cannot do harm; any other answer is final and relayed.
 */
export class UpstreamClient {
  readonly #options: Required<Omit<UpstreamClientOptions, 'onAttempt'>> &
    Pick<UpstreamClientOptions, 'onAttempt'>;

  constructor(options: UpstreamClientOptions) {
    this.#options = {
      backoffMs: 100,
      maxBackoffMs: 2_000,
      transport: nodeTransport(),
      random: Math.random,
      hints: BROKER_HINTS,
      ...options,
    };
  }

  async post(request: UpstreamRequest): Promise<UpstreamAnswer> {
    const { attempts, onAttempt } = this.#options;
    let failure: AttemptFailure | undefined;
    let retryAfterMs = 0;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(Math.max(this.#backoff(attempt), retryAfterMs));
      const started = performance.now();
      const result = await this.#attempt(request);
      const seconds = (performance.now() - started) / 1000;
      if (result instanceof AttemptFailure) {
        onAttempt?.(request.endpoint, result.outcome, seconds);
        failure = result;
        // An oversized answer will be oversized again.
        if (result.outcome === 'too_large') break;
        continue;
      }
      onAttempt?.(request.endpoint, result.status, seconds);
      retryAfterMs = retryAfterSeconds(result.retryAfter) * 1000;
      // A 429 asking for a longer wait than a retry may take is relayed, not waited out.
      if (
        !retryable(result.status) ||
        attempt === attempts ||
        retryAfterMs > this.#options.maxBackoffMs
      ) {
        return checkRelayable({ ...result, attempts: attempt }, request);
      }
    }
    throw failure!.error;
  }

  async #attempt(
    request: UpstreamRequest,
  ): Promise<Omit<UpstreamAnswer, 'attempts' | 'json'> | AttemptFailure> {
    try {
      const answer = await this.#options.transport(request.url, {
        headers: {
          'content-type': request.contentType,
          accept: (request.format ?? JSON_FORMAT).accept,
          ...(request.authorization !== undefined ? { authorization: request.authorization } : {}),
        },
        body: request.body,
        timeoutMs: this.#options.timeoutMs,
        maxBytes: MAX_ANSWER_BYTES,
      });
      return {
        status: answer.status,
        body: answer.body,
        contentType: answer.contentType ?? (request.format ?? JSON_FORMAT).accept,
        ...(answer.retryAfter ? { retryAfter: answer.retryAfter.slice(0, 64) } : {}),
      };
    } catch (err) {
      return networkFailure(err, request.endpoint, this.#options.timeoutMs, this.#options.hints);
    }
  }

  #backoff(attempt: number): number {
    const { backoffMs, maxBackoffMs, random } = this.#options;
    return Math.min(maxBackoffMs, backoffMs * 2 ** (attempt - 2)) * (0.5 + random() / 2);
  }
}

/** An attempt that got no complete answer, and the error to give if it was the last. */
class AttemptFailure {
  constructor(
    readonly outcome: Exclude<AttemptOutcome, number>,
    readonly error: BrokerError,
  ) {}
}

function retryAfterSeconds(header: string | undefined): number {
  const seconds = Number(header);
  return header !== undefined && Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
}

function retryable(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * Google and Entra ID answer JSON, AWS STS XML; a relayed answer must parse, or the client's
 * library fails with a parse error instead of a message. Anything else becomes a 502 that says
 * what happened.
 */
function checkRelayable(
  answer: Omit<UpstreamAnswer, 'json'>,
  request: UpstreamRequest,
): UpstreamAnswer {
  const format = request.format ?? JSON_FORMAT;
  const parsed = format.parse(answer.body);
  if (parsed) return { ...answer, json: parsed };
  throw new BrokerError(
    'bad_gateway',
    `${describe(request.endpoint)} answered ${answer.status} with a body that is not ${format.name}; check ${UPSTREAMS[request.endpoint].setting} and any proxy in between`,
  );
}

function networkFailure(
  err: unknown,
  endpoint: UpstreamEndpoint,
  timeoutMs: number,
  hints: { timeoutSetting: string; route: string },
): AttemptFailure {
  const code = (err as { code?: unknown } | undefined)?.code;
  const name = typeof code === 'string' ? code : (err as Error | undefined)?.name;
  const what = describe(endpoint);
  if (err instanceof AnswerTooLarge)
    return new AttemptFailure(
      'too_large',
      new BrokerError(
        'bad_gateway',
        `${what} answered with more than ${MAX_ANSWER_BYTES / 1024} KiB; that is not a token answer`,
      ),
    );
  if (err instanceof TransportTimeout) {
    return new AttemptFailure(
      'timeout',
      new BrokerError(
        'gateway_timeout',
        `${what} did not answer within ${timeoutMs} ms (${hints.timeoutSetting})`,
      ),
    );
  }
  if (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)
  ) {
    return new AttemptFailure(
      'refused',
      new BrokerError(
        'unavailable',
        `${what} cannot be reached (${code}); check ${what.startsWith('Google') ? hints.route : hints.route.replace(/Google$/, what)}`,
      ),
    );
  }
  return new AttemptFailure(
    'network',
    new BrokerError(
      'bad_gateway',
      `the connection to ${what} failed before a complete answer (${name ?? 'network error'})`,
    ),
  );
}

function describe(endpoint: UpstreamEndpoint): string {
  return UPSTREAMS[endpoint].name;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
