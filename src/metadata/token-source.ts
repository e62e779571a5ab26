import { readGoogleError } from '../broker/google-errors.js';
import type { UpstreamAnswer, UpstreamClient, UpstreamEndpoint } from '../broker/upstream.js';
import { IdbridgeError } from '../errors.js';
import type { TokenFailure, TokenResult } from './api.js';
import type { PodIdentity } from './identity.js';

/**
 * Google tokens for pods: the subject token exchanged at the identity's token_url (STS or the
 * broker), then generateAccessToken / generateIdToken when a Google service account is named.
 * Identical requests in flight share one upstream call; answers are cached per (identity,
 * scopes) and (identity, audience) in a bounded LRU; each cached token is refreshed in the
 * background at `refreshFraction` of its lifetime while it is being used, so after the first
 * request no client waits for Google.
 */
export interface TokenSourceOptions {
  upstream: UpstreamClient;
  now?: () => number;
  /** Runs `fn` after `ms`; returns a cancel function. Default: an unref'd setTimeout. */
  schedule?: (fn: () => void, ms: number) => () => void;
  /** Entries kept (tokens of every kind); the least recently used goes first. */
  maxEntries?: number;
  refreshFraction?: number;
  /** generateAccessToken lifetime (the credential configuration's token_lifetime_seconds). */
  lifetimeSeconds?: number;
  /** Called once per upstream call, for metrics and tests. */
  onUpstream?: (endpoint: UpstreamEndpoint) => void;
}

const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
/** IAM Credentials needs cloud-platform on the federated token that calls it. */
const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform';
/** A token this close to expiry is not handed out: the client could not use it. */
const MIN_REMAINING_MS = 60_000;
/** After a failed background refresh, the next try comes this soon (or sooner, near expiry). */
const RETRY_REFRESH_MS = 30_000;

interface Token {
  token: string;
  expiresAtMs: number;
}

interface Entry {
  value?: Token;
  /** The answer for `value`, made once per token: the warm path hands out the same object. */
  result?: TokenResult & { ok: true };
  inflight?: Promise<Token>;
  used: boolean;
  cancelRefresh?: () => void;
}

/** A refusal to hand back to the metadata client. */
export class TokenError extends Error {
  constructor(readonly failure: TokenFailure) {
    super(failure.message);
  }
}

export class TokenSource {
  readonly #upstream: UpstreamClient;
  readonly #now: () => number;
  readonly #schedule: (fn: () => void, ms: number) => () => void;
  readonly #maxEntries: number;
  readonly #refreshFraction: number;
  readonly #lifetimeSeconds: number;
  readonly #onUpstream: ((endpoint: UpstreamEndpoint) => void) | undefined;
  readonly #entries = new Map<string, Entry>();
  /** The key touched last: a repeat of it is already the most recent and is not moved. */
  #lastKey: string | undefined;
  /** Cache keys per identity and scopes list, so a repeated decision builds no key string. */
  readonly #accessKeys = new WeakMap<PodIdentity, WeakMap<readonly string[], string>>();
  #closed = false;

  constructor(options: TokenSourceOptions) {
    this.#upstream = options.upstream;
    this.#now = options.now ?? Date.now;
    this.#schedule =
      options.schedule ??
      ((fn, ms) => {
        const timer = setTimeout(fn, ms);
        timer.unref();
        return () => clearTimeout(timer);
      });
    this.#maxEntries = options.maxEntries ?? 1_000;
    this.#refreshFraction = options.refreshFraction ?? 0.8;
    this.#lifetimeSeconds = options.lifetimeSeconds ?? 3600;
    this.#onUpstream = options.onUpstream;
  }

  /** An access token for `scopes`: impersonated when the identity names a Google service account, else federated. */
  async accessToken(identity: PodIdentity, scopes: readonly string[]): Promise<TokenResult> {
    const key = this.#accessKey(identity, scopes);
    return this.#result(key, () => {
      const sorted = [...scopes].sort();
      return identity.googleServiceAccount === undefined
        ? this.#exchange(identity, sorted)
        : this.#impersonate(identity, identity.googleServiceAccount, sorted);
    });
  }

  /**
   * The cached access token for `scopes` if it is fresh enough, synchronously, else undefined
   * (then accessToken() fetches it). The same answer as accessToken() gives for a cache hit,
   * without a promise: the host's warm path.
   */
  freshAccessToken(identity: PodIdentity, scopes: readonly string[]): TokenResult | undefined {
    const entry = this.#touch(this.#accessKey(identity, scopes));
    return entry && this.#isFresh(entry) ? entry.result : undefined;
  }

  /** An ID token for `audience`, minted as the identity's Google service account (includeEmail). */
  async idToken(identity: PodIdentity, audience: string): Promise<TokenResult> {
    const account = identity.googleServiceAccount;
    if (account === undefined)
      return {
        ok: false,
        failure: {
          status: 404,
          message: 'direct access cannot mint ID tokens; name a Google service account',
        },
      };
    return this.#result(`${identity.key}\nid\n${audience}`, () =>
      this.#generateIdToken(identity, account, audience),
    );
  }

  /** Entries held, for tests and metrics. */
  get size(): number {
    return this.#entries.size;
  }

  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) entry.cancelRefresh?.();
    this.#entries.clear();
  }

  async #result(key: string, fetch: () => Promise<Token>): Promise<TokenResult> {
    try {
      const token = await this.#get(key, fetch);
      return { ok: true, token: token.token, expiresAtMs: token.expiresAtMs };
    } catch (err) {
      if (err instanceof TokenError) return { ok: false, failure: err.failure };
      throw err;
    }
  }

  /** `identity.key` + scopes (sorted, deduplicated by the caller), made once per scopes list. */
  #accessKey(identity: PodIdentity, scopes: readonly string[]): string {
    let byScopes = this.#accessKeys.get(identity);
    if (!byScopes) {
      byScopes = new WeakMap();
      this.#accessKeys.set(identity, byScopes);
    }
    let key = byScopes.get(scopes);
    if (key === undefined) {
      key = `${identity.key}\naccess\n${[...scopes].sort().join(' ')}`;
      byScopes.set(scopes, key);
    }
    return key;
  }

  /** The entry for `key`, marked used and made the most recent (Map order is recency). */
  #touch(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    if (key !== this.#lastKey) {
      this.#entries.delete(key);
      this.#entries.set(key, entry);
      this.#lastKey = key;
    }
    entry.used = true;
    return entry;
  }

  #isFresh(entry: Entry): boolean {
    return entry.value !== undefined && entry.value.expiresAtMs - this.#now() > MIN_REMAINING_MS;
  }

  /** The cached token if it is fresh enough, else the call in flight, else a new call. */
  #get(key: string, fetch: () => Promise<Token>): Promise<Token> {
    let entry = this.#touch(key);
    if (entry) {
      if (this.#isFresh(entry)) return Promise.resolve(entry.value!);
      if (entry.inflight) return entry.inflight;
    } else {
      entry = { used: true };
      this.#entries.set(key, entry);
      this.#lastKey = key;
      this.#evict();
    }
    return this.#fetch(key, entry, fetch);
  }

  /** `background`: a refresh nobody waits for; its token counts as unread until a request takes it. */
  #fetch(
    key: string,
    entry: Entry,
    fetch: () => Promise<Token>,
    background = false,
  ): Promise<Token> {
    const inflight = fetch()
      .then(
        (token) => {
          entry.value = token;
          entry.result = { ok: true, token: token.token, expiresAtMs: token.expiresAtMs };
          entry.used = !background;
          this.#scheduleRefresh(key, entry, fetch);
          return token;
        },
        (err: unknown) => {
          // Failures are not cached: the next request tries again.
          if (!entry.value && this.#entries.get(key) === entry) this.#entries.delete(key);
          throw err;
        },
      )
      .finally(() => {
        if (entry.inflight === inflight) delete entry.inflight;
      });
    entry.inflight = inflight;
    return inflight;
  }

  /**
   * At refreshFraction of the token's lifetime, fetch the next one, so clients that come back
   * near expiry find it ready. A token that was refreshed and never read ends the chain: the
   * pod stopped asking. A failed refresh is tried again while the old token is still good.
   */
  #scheduleRefresh(key: string, entry: Entry, fetch: () => Promise<Token>, delayMs?: number): void {
    entry.cancelRefresh?.();
    delete entry.cancelRefresh;
    if (this.#closed || !entry.value) return;
    const remaining = entry.value.expiresAtMs - this.#now();
    if (remaining <= MIN_REMAINING_MS) return;
    entry.cancelRefresh = this.#schedule(
      () => {
        delete entry.cancelRefresh;
        if (this.#closed || this.#entries.get(key) !== entry || !entry.used || entry.inflight)
          return;
        this.#fetch(key, entry, fetch, true).catch(() => {
          const left = (entry.value?.expiresAtMs ?? 0) - this.#now();
          if (left > MIN_REMAINING_MS)
            this.#scheduleRefresh(
              key,
              entry,
              fetch,
              Math.min(RETRY_REFRESH_MS, (left - MIN_REMAINING_MS) / 2),
            );
        });
      },
      Math.floor(delayMs ?? remaining * this.#refreshFraction),
    );
  }

  #evict(): void {
    while (this.#entries.size > this.#maxEntries) {
      const [oldest, entry] = this.#entries.entries().next().value as [string, Entry];
      entry.cancelRefresh?.();
      this.#entries.delete(oldest);
    }
  }

  /** The federated token for `scopes` (cached itself, so impersonation and ID tokens share one exchange). */
  #federated(identity: PodIdentity, scopes: string[]): Promise<Token> {
    return this.#get(`${identity.key}\nfederated\n${scopes.join(' ')}`, () =>
      this.#exchange(identity, scopes),
    );
  }

  async #exchange(identity: PodIdentity, scopes: string[]): Promise<Token> {
    let subjectToken: string;
    try {
      subjectToken = await identity.subjectToken();
    } catch (err) {
      const message =
        err instanceof IdbridgeError || err instanceof Error ? err.message : String(err);
      throw new TokenError({
        status: 503,
        message: `the pod's ServiceAccount token cannot be read: ${message}`,
        retryAfterSeconds: 1,
      });
    }
    const body = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE_GRANT,
      audience: identity.audience,
      scope: scopes.join(' '),
      requested_token_type: ACCESS_TOKEN_TYPE,
      subject_token: subjectToken,
      subject_token_type: JWT_TOKEN_TYPE,
    }).toString();
    const answer = await this.#post(
      identity,
      'token',
      identity.tokenUrl,
      'application/x-www-form-urlencoded',
      body,
    );
    const accessToken = answer.json.access_token;
    const expiresIn = Number(answer.json.expires_in);
    if (
      typeof accessToken !== 'string' ||
      accessToken === '' ||
      !Number.isFinite(expiresIn) ||
      expiresIn <= 0
    ) {
      throw new TokenError({
        status: 503,
        message: `${identity.tokenUrl} answered 200 without access_token and expires_in`,
        retryAfterSeconds: 1,
      });
    }
    return { token: accessToken, expiresAtMs: this.#now() + expiresIn * 1000 };
  }

  async #impersonate(identity: PodIdentity, account: string, scopes: string[]): Promise<Token> {
    const federated = await this.#federated(identity, [CLOUD_PLATFORM]);
    const url = `${identity.iamCredentialsUrl}/v1/projects/-/serviceAccounts/${encodeURIComponent(account)}:generateAccessToken`;
    const answer = await this.#post(
      identity,
      'generateAccessToken',
      url,
      'application/json',
      JSON.stringify({ scope: scopes, lifetime: `${this.#lifetimeSeconds}s` }),
      federated.token,
    );
    const accessToken = answer.json.accessToken;
    const expiresAtMs = Date.parse(String(answer.json.expireTime));
    if (typeof accessToken !== 'string' || accessToken === '' || !Number.isFinite(expiresAtMs)) {
      throw new TokenError({
        status: 503,
        message: 'IAM Credentials answered 200 without accessToken and expireTime',
        retryAfterSeconds: 1,
      });
    }
    return { token: accessToken, expiresAtMs };
  }

  async #generateIdToken(identity: PodIdentity, account: string, audience: string): Promise<Token> {
    const federated = await this.#federated(identity, [CLOUD_PLATFORM]);
    const url = `${identity.iamCredentialsUrl}/v1/projects/-/serviceAccounts/${encodeURIComponent(account)}:generateIdToken`;
    const answer = await this.#post(
      identity,
      'generateIdToken',
      url,
      'application/json',
      JSON.stringify({ audience, includeEmail: true }),
      federated.token,
    );
    const token = answer.json.token;
    const expiresAtMs = typeof token === 'string' ? jwtExpiryMs(token) : undefined;
    if (typeof token !== 'string' || expiresAtMs === undefined) {
      throw new TokenError({
        status: 503,
        message: 'IAM Credentials answered 200 without an ID token',
        retryAfterSeconds: 1,
      });
    }
    return { token, expiresAtMs };
  }

  async #post(
    identity: PodIdentity,
    endpoint: UpstreamEndpoint,
    url: string,
    contentType: string,
    body: string,
    bearer?: string,
  ): Promise<UpstreamAnswer> {
    this.#onUpstream?.(endpoint);
    let answer: UpstreamAnswer;
    try {
      answer = await this.#upstream.post({
        endpoint,
        url,
        contentType,
        body,
        ...(bearer !== undefined ? { authorization: `Bearer ${bearer}` } : {}),
      });
    } catch (err) {
      // Down, slow or garbled after the client's retries: a 503 the metadata clients retry.
      throw new TokenError({
        status: 503,
        message: err instanceof Error ? err.message : String(err),
        retryAfterSeconds: 1,
      });
    }
    if (answer.status === 200) return answer;
    throw new TokenError(refusalOf(identity, endpoint, answer));
  }
}

/** Google's refusal in the metadata server's terms: the status clients act on and the fix. */
export function refusalOf(
  identity: PodIdentity,
  endpoint: UpstreamEndpoint,
  answer: UpstreamAnswer,
): TokenFailure {
  const google = readGoogleError(answer.json);
  const said = `${google.code ? `${google.code}: ` : ''}${google.message}`.slice(0, 500);
  const who = `${identity.namespace}/${identity.serviceAccount}`;
  if (answer.status === 429) {
    const seconds = Number(answer.retryAfter);
    return {
      status: 429,
      message: `Google is rate limiting token requests (${said}); retry later`,
      retryAfterSeconds: Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : 1,
    };
  }
  if (answer.status >= 500)
    return {
      status: 503,
      message: `Google answered ${answer.status} (${said}); retry`,
      retryAfterSeconds: 1,
    };
  if (endpoint === 'token') {
    return {
      status: answer.status === 401 || answer.status === 403 ? 403 : 400,
      message: `Google STS refused the ServiceAccount token of ${who} (${said}); check the provider's issuer, audience and attribute condition (idbridge doctor --token)`,
    };
  }
  if (answer.status === 403 && identity.googleServiceAccount !== undefined) {
    const member = `principal://iam.googleapis.com/${identity.audience.replace(/^\/\/iam\.googleapis\.com\//, '').replace(/\/providers\/[^/]+$/, '')}/subject/system:serviceaccount:${identity.namespace}:${identity.serviceAccount}`;
    return {
      status: 403,
      message: `Google refused to let ${who} act as ${identity.googleServiceAccount} (${said}). The Kubernetes ServiceAccount needs roles/iam.workloadIdentityUser on it: gcloud iam service-accounts add-iam-policy-binding ${identity.googleServiceAccount} --role=roles/iam.workloadIdentityUser --member=${member}`,
    };
  }
  const status =
    answer.status === 401 || answer.status === 403 || answer.status === 404 ? answer.status : 400;
  return {
    status,
    message: `Google IAM Credentials answered ${answer.status} for ${identity.googleServiceAccount ?? who} (${said})`,
  };
}

/** `exp` of a JWT, in ms, without verifying it (Google's own answer, over TLS). */
function jwtExpiryMs(token: string): number | undefined {
  try {
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'),
    ) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
