import { createHash } from 'node:crypto';
import { Registry } from 'prom-client';
import type { BrokerRelay, BrokerSettings } from '../config/config.js';
import { IdbridgeError } from '../errors.js';
import { unexpectedErrorFields } from '../http/errors.js';
import type { Logger } from '../log/logger.js';
import { clusterRecords, type RecordCache } from '../registry/record-cache.js';
import type { ClusterRecord } from '../registry/record.js';
import type { ClusterRegistry } from '../registry/registry.js';
import {
  SubjectTokenVerifier,
  TokenError,
  unverifiedClaims,
  type VerifiedToken,
} from '../verify/subject-token.js';
import { audit, type AuditFields } from './audit.js';
import { awsAssumeRoleExchange } from './aws-sts.js';
import type { CachedRelay, CloudExchange } from './cloud-exchange.js';
import { BrokerClusters } from './clusters.js';
import { entraDiscovery, entraTokenExchange } from './entra.js';
import {
  BrokerError,
  googleError,
  jsonAnswer,
  NO_STORE,
  type BrokerAnswer,
  type ErrorShape,
} from './google-errors.js';
import type { Transport } from './http-transport.js';
import {
  parseIamRequest,
  parseIamTarget,
  parseIntrospectRequest,
  type IamRequest,
} from './iam-request.js';
import { checkNotRevoked, fleetStep, type FleetMinting } from './fleet-exchange.js';
import { BrokerMetrics, type Outcome } from './metrics.js';
import { decideExchange, type ExchangeIdentity } from './decide.js';
import { allowedAudiences, checkSubject } from './policy.js';
import { RateLimiter } from './rate-limit.js';
import { Coalescer, ResponseCache } from './response-cache.js';
import { parseStsTokenRequest } from './sts-request.js';
import {
  UpstreamClient,
  type UpstreamAnswer,
  type UpstreamEndpoint,
  type UpstreamRequest,
} from './upstream.js';

export interface BrokerOptions {
  registry: ClusterRegistry;
  /** Google STS base URL (configuration only, never a request). */
  stsUrl: string;
  /** Google IAM Credentials base URL (configuration only, never a request). */
  iamCredentialsUrl: string;
  /** AWS STS base URL (configuration only); default https://sts.amazonaws.com. */
  awsStsUrl?: string;
  /** Entra ID authority host (configuration only); default https://login.microsoftonline.com. */
  azureAuthorityUrl?: string;
  /** This broker's external base URL, where Entra ID tenant discovery sends token requests. */
  publicUrl?: string;
  settings: BrokerSettings;
  /** `issued` (default): IAM Credentials and introspection only for access tokens this broker issued. */
  relay?: BrokerRelay;
  logger: Logger;
  /** Where the broker's metrics are registered (`/metrics` on serve); a private one if absent. */
  metrics?: Registry;
  now?: () => number;
  /** How upstream calls are made (node:http(s) with kept-alive connections by default). */
  transport?: Transport;
  /** First retry delay of upstream calls, ms. */
  upstreamBackoffMs?: number;
  /** The process's cache of cluster records (clusterRecords), shared with the issuer; made here if absent. */
  records?: RecordCache<ClusterRecord | null>;
  /** Fleet mode (docs/fleet.md): the fleet provider and the signer of its tokens; absent: off. */
  fleet?: FleetMinting;
}

/** An incoming call, as the routes hand it over. */
export interface BrokerCall {
  contentType: string;
  body: string;
  authorization?: string;
}

/**
 * Cached answers are served while at least this much lifetime is left. Google's libraries
 * refresh 3¾ to 5 minutes before expiry: a token with less left would be refreshed at once.
 */
export const CACHE_MIN_REMAINING_SECONDS = 6 * 60;

/** Memory for the access tokens this broker issued, whatever the answer cache's size (about 20,000 tokens). */
const MIN_ISSUED_MEMORY_BYTES = 8 * 1024 * 1024;

/** Who a federated access token was issued to, so IAM Credentials calls can be audited by cluster. */
interface Identity {
  cluster: string;
  subject: string;
  provider: string;
}

interface CachedToken {
  answer: Record<string, unknown>;
  /** Epoch seconds at which the access token expires. */
  expiresAt: number;
}

/** Another cloud's answer (AWS STS XML, Entra ID JSON), kept as it came. */
interface CachedCloudAnswer {
  relay: CachedRelay;
  expiresAt: number;
}

export const DEFAULT_AWS_STS_URL = 'https://sts.amazonaws.com';
export const DEFAULT_AZURE_AUTHORITY_URL = 'https://login.microsoftonline.com';

/**
 * The STS broker: Google STS and IAM Credentials wire formats in front of the fixed Google
 * endpoints. Every subject token is verified against its registered cluster before anything
 * leaves; identical calls in flight share one upstream call; answers are cached until shortly
 * before they expire; exchanges sent upstream are rate-limited per cluster and per subject.
 */
export class Broker {
  readonly metrics: Registry;
  readonly #options: BrokerOptions;
  readonly #now: () => number;
  readonly #clusters: BrokerClusters;
  readonly #ownRecords: RecordCache<ClusterRecord | null> | undefined;
  readonly #verifier = new SubjectTokenVerifier();
  readonly #upstream: UpstreamClient;
  readonly #answers: ResponseCache<CachedToken | CachedCloudAnswer>;
  readonly #identities: ResponseCache<Identity>;
  readonly #inflight = new Coalescer<UpstreamAnswer>();
  readonly #perCluster: RateLimiter;
  readonly #perSubject: RateLimiter;
  readonly #stats: BrokerMetrics;
  readonly #relay: BrokerRelay;

  constructor(options: BrokerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#relay = options.relay ?? 'issued';
    const { settings, logger } = options;
    let records = options.records;
    if (!records) {
      // On its own (tests, embedders): a cache of its own, kept in step with this process's writes.
      const own = clusterRecords(options.registry.store, {
        now: this.#now,
        onRefreshError: (cluster, err) =>
          logger.warn('broker: cluster record refresh failed; using the cached record', {
            cluster,
            error: (err as Error).message,
          }),
      });
      options.registry.onChange((id) => own.invalidate(id));
      this.#ownRecords = own;
      records = own;
    }
    this.#clusters = new BrokerClusters(records);
    this.#answers = new ResponseCache({ maxBytes: settings.cacheBytes, now: this.#now });
    // Small entries (three names), a bounded share of the same budget; never none, since relaying may depend on it.
    this.#identities = new ResponseCache({
      maxBytes: Math.max(Math.floor(settings.cacheBytes / 4), MIN_ISSUED_MEMORY_BYTES),
      now: this.#now,
    });
    this.#perCluster = new RateLimiter({
      perMinute: settings.ratePerClusterPerMinute,
      now: this.#now,
    });
    this.#perSubject = new RateLimiter({
      perMinute: settings.ratePerSubjectPerMinute,
      now: this.#now,
    });
    this.metrics = options.metrics ?? new Registry();
    this.#stats = new BrokerMetrics(this.metrics, () => ({
      bytes: this.#answers.bytes,
      entries: this.#answers.size,
    }));
    this.#upstream = new UpstreamClient({
      timeoutMs: settings.upstreamTimeoutMs,
      attempts: settings.upstreamAttempts,
      ...(options.upstreamBackoffMs !== undefined ? { backoffMs: options.upstreamBackoffMs } : {}),
      ...(options.transport ? { transport: options.transport } : {}),
      onAttempt: (endpoint, outcome, seconds) =>
        this.#stats.upstreamAttempt(endpoint, outcome, seconds),
    });
  }

  /** Stops watching the store, if the broker made its own record cache. */
  close(): void {
    this.#ownRecords?.close();
  }

  /** `POST /v1/token`: verify the subject token, decide, then exchange it at Google STS. */
  token(call: BrokerCall): Promise<BrokerAnswer> {
    return this.#answer('token', 'sts', async (fields) => {
      const request = parseStsTokenRequest(call.contentType, call.body);
      fields.provider = request.provider.path;
      const { record, verified } = await this.#verify(fields, request.subjectToken, (found) =>
        allowedAudiences(found, request.provider),
      );
      const decision = decideExchange({ verified, record, request, stsUrl: this.#options.stsUrl });
      if (decision.kind === 'refuse') throw decision.error;
      const fleet = fleetStep(record, request, verified, this.#options.fleet, {
        stsUrl: this.#options.stsUrl,
        now: this.#now,
      });

      const key = cacheKey(
        'token',
        request.audience,
        request.scope ?? '',
        request.subjectTokenType,
        request.options ?? '',
        request.subjectToken,
      );
      const cached = this.#answers.get(key);
      if (cached && 'answer' in cached) {
        fields.cache = 'hit';
        this.#rememberIssued(cached.answer.access_token, decision.identity, cached.expiresAt);
        const remaining = cached.expiresAt - Math.floor(this.#now() / 1000);
        return jsonAnswer(200, { ...cached.answer, expires_in: remaining });
      }
      return this.#forward(fields, key, () =>
        this.#exchange(
          fleet ? () => fleet.upstream(fields) : decision.upstream,
          decision.identity,
          key,
        ),
      );
    });
  }

  /** `POST /v1/introspect` (gcloud, without impersonation): relayed, identical calls shared. */
  introspect(call: BrokerCall): Promise<BrokerAnswer> {
    return this.#answer('introspect', 'sts', async (fields) => {
      const request = parseIntrospectRequest(call.authorization, call.contentType, call.body);
      const identity = this.#identities.get(cacheKey('identity', request.token));
      if (!identity && this.#relay === 'issued') {
        // What Google answers for a token that is not active (RFC 7662 §2.2); nothing is relayed.
        fields.reason = 'not_issued';
        return jsonAnswer(200, { active: false });
      }
      Object.assign(fields, identity);
      const key = cacheKey('introspect', request.authorization ?? '', request.body);
      return this.#forward(fields, key, () =>
        this.#upstream.post({
          endpoint: 'introspect',
          url: `${this.#options.stsUrl}/v1/introspect`,
          contentType: 'application/x-www-form-urlencoded',
          body: request.body,
          ...(request.authorization !== undefined ? { authorization: request.authorization } : {}),
        }),
      );
    });
  }

  /** `POST /v1/projects/-/serviceAccounts/{account}:generateAccessToken|generateIdToken`. */
  async iamCredentials(project: string, target: string, call: BrokerCall): Promise<BrokerAnswer> {
    let parsed: ReturnType<typeof parseIamTarget>;
    try {
      parsed = parseIamTarget(project, target);
    } catch (err) {
      return googleError('iam', err as BrokerError);
    }
    return this.#answer(parsed.method, 'iam', async (fields) => {
      fields.serviceAccount = parsed.serviceAccount;
      const request = parseIamRequest(parsed, call.authorization, call.contentType, call.body);
      const bearer = request.authorization.slice('Bearer '.length);
      const identity = this.#identities.get(cacheKey('identity', bearer));
      if (!identity && this.#relay === 'issued') {
        throw new BrokerError(
          'unauthenticated',
          "Request had invalid authentication credentials: this broker relays only access tokens it issued itself (IDBRIDGE_BROKER_RELAY=issued); exchange the Kubernetes token at this broker's /v1/token first",
        );
      }
      Object.assign(fields, identity);
      if (identity && identity.provider === this.#options.fleet?.provider.path) {
        // The kill switch covers what fleet tokens were already exchanged for, cached answers included.
        const record = await this.#clusters.byId(identity.cluster);
        if (record) checkNotRevoked(record, identity.subject);
      }
      const key = cacheKey(request.method, request.serviceAccount, request.body, bearer);
      const cached = request.method === 'generateAccessToken' ? this.#answers.get(key) : undefined;
      if (cached && 'answer' in cached) {
        fields.cache = 'hit';
        return jsonAnswer(200, cached.answer);
      }
      return this.#forward(fields, key, () => this.#impersonate(request, key));
    });
  }

  /** `POST /aws/sts/`: AWS STS AssumeRoleWithWebIdentity (Query API), verified, then forwarded. */
  awsAssumeRole(call: BrokerCall): Promise<BrokerAnswer> {
    return this.#cloud('assumeRoleWithWebIdentity', 'aws-sts', () =>
      awsAssumeRoleExchange(call, this.#options.awsStsUrl ?? DEFAULT_AWS_STS_URL),
    );
  }

  /** `POST /azure/{tenant}/oauth2/v2.0/token`: Entra ID client credentials with a federated assertion. */
  entraToken(tenant: string, call: BrokerCall): Promise<BrokerAnswer> {
    return this.#cloud('entraToken', 'entra', () =>
      entraTokenExchange(
        tenant,
        call,
        this.#options.azureAuthorityUrl ?? DEFAULT_AZURE_AUTHORITY_URL,
      ),
    );
  }

  /** `GET /azure/{tenant}/v2.0/.well-known/openid-configuration`, its endpoints at this broker. */
  entraDiscovery(tenant: string): BrokerAnswer {
    try {
      if (!this.#options.publicUrl)
        throw new BrokerError(
          'misconfigured',
          'the broker does not know its own URL for Entra ID tenant discovery; set IDBRIDGE_BROKER_PUBLIC_URL to the URL pods reach it at',
        );
      return entraDiscovery(
        tenant,
        this.#options.publicUrl,
        this.#options.azureAuthorityUrl ?? DEFAULT_AZURE_AUTHORITY_URL,
      );
    } catch (err) {
      return googleError('entra', asIdbridgeError(err, this.#options.logger, 'entraToken'));
    }
  }

  /**
   * An exchange on another cloud's wire: the same verification and subject policy as Google's
   * (`#verify`, `checkSubject`), the cloud's own target policy, then the same cache, coalescing,
   * rate limits, audit and metrics.
   */
  #cloud(
    endpoint: UpstreamEndpoint,
    shape: ErrorShape,
    parse: () => CloudExchange,
  ): Promise<BrokerAnswer> {
    return this.#answer(endpoint, shape, async (fields) => {
      const exchange = parse();
      Object.assign(fields, exchange.audit);
      const { record, verified } = await this.#verify(
        fields,
        exchange.subjectToken,
        exchange.audiences,
      );
      exchange.checkTarget(record);
      checkSubject(record, verified.subject);
      const key = cacheKey(endpoint, ...exchange.key, exchange.subjectToken);
      const cached = this.#answers.get(key);
      if (cached && 'relay' in cached) {
        fields.cache = 'hit';
        return exchange.fromCache(cached.relay, cached.expiresAt, Math.floor(this.#now() / 1000));
      }
      return this.#forward(fields, key, async () => {
        this.#admit(record.id, verified.subject);
        const answer = await this.#upstream.post(exchange.upstream);
        if (answer.status === 200) {
          const expiresAt = exchange.expiresAt(answer, Math.floor(this.#now() / 1000));
          if (expiresAt === null)
            throw new BrokerError(
              'bad_gateway',
              `the upstream answered 200 without credentials and their expiry; check the broker's ${endpoint === 'entraToken' ? 'IDBRIDGE_BROKER_AZURE_AUTHORITY_URL' : 'IDBRIDGE_BROKER_AWS_STS_URL'}`,
            );
          const relay = { status: 200, body: answer.body, contentType: answer.contentType };
          this.#answers.set(
            key,
            { relay, expiresAt },
            (expiresAt - CACHE_MIN_REMAINING_SECONDS) * 1000,
            answer.body.length * 2,
          );
        }
        return answer;
      });
    });
  }

  /**
   * The one "verify the token" step of every cloud: its cluster from the unverified issuer, then
   * the signature and claims against that cluster's keys, the audiences its record allows.
   */
  async #verify(
    fields: AuditFields,
    token: string,
    audiences: (record: ClusterRecord) => readonly string[],
  ): Promise<{ record: ClusterRecord; verified: VerifiedToken }> {
    const claims = unverifiedClaims(token);
    const record = await this.#clusterOf(claims.iss);
    fields.cluster = record.id;
    const verified = await this.#verifier.verify(token, record, {
      audiences: audiences(record),
      clockSkewSeconds: this.#options.settings.clockSkewSeconds,
      now: this.#now,
    });
    fields.subject = verified.subject;
    return { record, verified };
  }

  /** The registered cluster a token's (unverified) issuer names, or invalid_grant. */
  async #clusterOf(issuer: string): Promise<ClusterRecord> {
    const record = await this.#clusters.forIssuer(issuer);
    if (!record) {
      throw new BrokerError(
        'unauthenticated',
        `the token's issuer ${JSON.stringify(issuer.slice(0, 200))} is not a cluster registered with this broker; register the cluster (POST /api/v1/clusters) and set its kube-apiserver's --service-account-issuer to the issuer it is given`,
      );
    }
    return record;
  }

  /** Joins an identical call in flight, or makes the call; the answer is relayed as Google gave it. */
  async #forward(
    fields: AuditFields,
    key: string,
    call: () => Promise<UpstreamAnswer>,
  ): Promise<BrokerAnswer> {
    const { result, shared } = this.#inflight.run(key, call);
    fields.cache = shared ? 'coalesced' : 'miss';
    const started = performance.now();
    const answer = await result.finally(() => {
      fields.upstreamMs = Math.round((performance.now() - started) * 100) / 100;
    });
    fields.upstreamStatus = answer.status;
    fields.attempts = answer.attempts;
    return relay(answer);
  }

  async #exchange(
    upstream: UpstreamRequest | (() => Promise<UpstreamRequest>),
    identity: ExchangeIdentity,
    key: string,
  ): Promise<UpstreamAnswer> {
    this.#admit(identity.cluster, identity.subject);
    // Fleet mode mints here: after the rate limits, only for a call that goes upstream.
    const answer = await this.#upstream.post(
      typeof upstream === 'function' ? await upstream() : upstream,
    );
    if (answer.status === 200) {
      const body = answer.json;
      const { access_token: accessToken, expires_in: expiresIn } = body;
      if (typeof accessToken !== 'string' || typeof expiresIn !== 'number') {
        throw new BrokerError(
          'bad_gateway',
          'Google STS answered 200 without access_token and expires_in; check IDBRIDGE_STS_URL',
        );
      }
      const expiresAt = Math.floor(this.#now() / 1000) + expiresIn;
      this.#remember(key, { answer: body, expiresAt }, answer.body.length);
      this.#rememberIssued(accessToken, identity, expiresAt);
    }
    return answer;
  }

  async #impersonate(request: IamRequest, key: string): Promise<UpstreamAnswer> {
    const answer = await this.#upstream.post({
      endpoint: request.method,
      url: `${this.#options.iamCredentialsUrl}/v1/projects/-/serviceAccounts/${encodeURIComponent(request.serviceAccount)}:${request.method}`,
      contentType: 'application/json',
      body: request.body,
      authorization: request.authorization,
    });
    if (answer.status === 200 && request.method === 'generateAccessToken') {
      const body = answer.json;
      const expireTime = typeof body.expireTime === 'string' ? Date.parse(body.expireTime) : NaN;
      if (typeof body.accessToken !== 'string' || !Number.isFinite(expireTime)) {
        throw new BrokerError(
          'bad_gateway',
          'Google IAM Credentials answered 200 without accessToken and expireTime; check IDBRIDGE_IAMCREDENTIALS_URL',
        );
      }
      this.#remember(
        key,
        { answer: body, expiresAt: Math.floor(expireTime / 1000) },
        answer.body.length,
      );
    }
    return answer;
  }

  /** Who an access token this broker issued belongs to, until it expires (epoch seconds). */
  #rememberIssued(accessToken: unknown, identity: Identity, expiresAt: number): void {
    if (typeof accessToken === 'string')
      this.#identities.set(cacheKey('identity', accessToken), identity, expiresAt * 1000, 200);
  }

  /** Keeps an answer until CACHE_MIN_REMAINING_SECONDS before its token expires. */
  #remember(key: string, token: CachedToken, size: number): void {
    this.#answers.set(key, token, (token.expiresAt - CACHE_MIN_REMAINING_SECONDS) * 1000, size * 2);
  }

  /** Rate limits apply to exchanges that go upstream; cached and shared answers cost Google nothing. */
  #admit(cluster: string, subject: string): void {
    const subjectKey = `${cluster}\n${subject}`;
    for (const [scope, limiter, limiterKey, what] of [
      [
        'subject',
        this.#perSubject,
        subjectKey,
        `${JSON.stringify(subject.slice(0, 320))} of cluster ${cluster}`,
      ],
      ['cluster', this.#perCluster, cluster, `cluster ${cluster}`],
    ] as const) {
      const wait = limiter.wait(limiterKey);
      if (wait > 0) {
        this.#stats.rateLimited(scope);
        throw new BrokerError(
          'rate_limited',
          `${what} has used its ${scope === 'subject' ? 'IDBRIDGE_BROKER_RATE_PER_SUBJECT' : 'IDBRIDGE_BROKER_RATE_PER_CLUSTER'} token exchanges per minute; retry after ${wait} s (clients should cache tokens until shortly before they expire)`,
          { retryAfter: wait },
        );
      }
    }
    this.#perSubject.take(subjectKey);
    this.#perCluster.take(cluster);
  }

  /** Runs one call: its answer or its refusal in Google's shape, one audit line, the metrics. */
  async #answer(
    endpoint: UpstreamEndpoint,
    shape: ErrorShape,
    handle: (fields: AuditFields) => Promise<BrokerAnswer>,
  ): Promise<BrokerAnswer> {
    const started = performance.now();
    const fields: AuditFields = { endpoint };
    let response: BrokerAnswer;
    let outcome: Outcome;
    try {
      response = await handle(fields);
      // A refusal answered in Google's success shape (introspection of a token not issued here).
      outcome = fields.reason ? 'refused' : outcomeOf(response.status, fields.upstreamStatus);
      if (fields.reason) this.#stats.refused(endpoint, fields.reason);
    } catch (err) {
      const refusal = asIdbridgeError(err, this.#options.logger, endpoint);
      response = googleError(shape, refusal);
      outcome =
        refusal.code === 'rate_limited'
          ? 'rate_limited'
          : refusal.status < 500
            ? 'refused'
            : refusal.code === 'internal'
              ? 'error'
              : 'upstream_failed';
      const reason = err instanceof TokenError ? err.failure : refusal.code;
      fields.reason = reason;
      if (outcome === 'refused') this.#stats.refused(endpoint, reason);
    }
    const ms = performance.now() - started;
    Object.assign(fields, { outcome, status: response.status, ms });
    if (fields.cache) this.#stats.cache(endpoint, fields.cache);
    this.#stats.answered(endpoint, outcome, ms / 1000);
    audit(this.#options.logger, fields);
    return response;
  }
}

function outcomeOf(status: number, upstreamStatus: number | undefined): Outcome {
  if (status < 300) return 'ok';
  if (upstreamStatus === undefined) return 'refused';
  return status >= 500 ? 'upstream_failed' : 'upstream_refused';
}

function asIdbridgeError(err: unknown, logger: Logger, endpoint: UpstreamEndpoint): IdbridgeError {
  if (err instanceof IdbridgeError) return err;
  logger.error('broker: unexpected error', { endpoint, ...unexpectedErrorFields(err) });
  return new IdbridgeError('internal', 'internal error in the broker; its log has the details');
}

/** SHA-256 of the parts: cache and coalescing keys never hold a token itself. */
function cacheKey(...parts: string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part).update('\0');
  return hash.digest('base64url');
}

/** Google's answer as it came: status, body, content type, and Retry-After when it asked for one. */
function relay(answer: UpstreamAnswer): BrokerAnswer {
  return {
    status: answer.status,
    headers: {
      'content-type': answer.contentType,
      ...NO_STORE,
      ...(answer.retryAfter ? { 'retry-after': answer.retryAfter } : {}),
    },
    body: answer.body,
  };
}

/** The broker as every host builds it from configuration. */
export function brokerFromConfig(
  config: {
    stsUrl: string;
    iamCredentialsUrl: string;
    awsStsUrl?: string;
    azureAuthorityUrl?: string;
    brokerPublicUrl?: string;
    broker: BrokerSettings;
    brokerRelay?: BrokerRelay;
  },
  registry: ClusterRegistry,
  logger: Logger,
  metrics?: Registry,
  records?: RecordCache<ClusterRecord | null>,
  fleet?: FleetMinting,
): Broker {
  return new Broker({
    registry,
    stsUrl: config.stsUrl,
    iamCredentialsUrl: config.iamCredentialsUrl,
    ...(config.awsStsUrl ? { awsStsUrl: config.awsStsUrl } : {}),
    ...(config.azureAuthorityUrl ? { azureAuthorityUrl: config.azureAuthorityUrl } : {}),
    ...(config.brokerPublicUrl ? { publicUrl: config.brokerPublicUrl } : {}),
    settings: config.broker,
    ...(config.brokerRelay ? { relay: config.brokerRelay } : {}),
    logger,
    ...(metrics ? { metrics } : {}),
    ...(records ? { records } : {}),
    ...(fleet ? { fleet } : {}),
  });
}
