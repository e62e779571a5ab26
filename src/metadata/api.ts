/**
 * The GKE metadata server API as clients need it (docs/metadata-server.md): pure decisions from a
 * request and what is known of the pod to a plain answer, or to the token the answer needs.
 * No I/O here; the host fetches tokens (token-source.ts) and writes answers to the socket.
 */

export interface MetadataRequest {
  method: string;
  /** The path as sent, without the query; percent-encoded segments are decoded here. */
  path: string;
  /** The raw query string, without "?". */
  query: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface MetadataAnswer {
  status: number;
  /** Shared between answers: never modified. */
  headers: Readonly<Record<string, string>>;
  body: string;
}

/** What the API says about the pod: one view per identity, computed by the host. */
export interface InstanceView {
  projectId: string;
  /** Digits only; absent: `project/numeric-project-id` is 404. */
  numericProjectId?: string;
  /** The Google service account, or absent for direct access (email is then PROJECT_ID.svc.id.goog). */
  googleServiceAccount?: string;
  /** For messages: `namespace/name` of the Kubernetes ServiceAccount. */
  kubernetesServiceAccount: string;
  universeDomain: string;
  /** instance/attributes/*, e.g. cluster-name and cluster-location; only what is configured. */
  attributes: Readonly<Record<string, string>>;
}

/** A token the answer needs; the host asks the token source and calls tokenAnswer/identityAnswer. */
export type TokenNeed = { kind: 'access'; scopes: string[] } | { kind: 'id'; audience: string };

export type Decision = { answer: MetadataAnswer } | { need: TokenNeed };

export const DEFAULT_SCOPES = [
  'https://www.googleapis.com/auth/cloud-platform',
  'https://www.googleapis.com/auth/userinfo.email',
];

/** Headers of every answer: clients check Metadata-Flavor on each one, /token included (gcp-metadata#215). */
const COMMON = {
  'metadata-flavor': 'Google',
  server: 'GKE Metadata Server',
  'x-content-type-options': 'nosniff',
} as const;
const TEXT = { ...COMMON, 'content-type': 'application/text' } as const;
const JSON_TYPE = { ...COMMON, 'content-type': 'application/json' } as const;
/** Tokens must not be kept by anything in between. */
const NO_STORE = { 'cache-control': 'no-store' } as const;

const MAX_SCOPES = 50;
const SCOPE = /^[\x21-\x7e]{1,256}$/;
const MAX_AUDIENCE_CHARS = 2048;
const AUDIENCE = /^[\x21-\x7e]+$/;

/** The /token answer's headers, made once: the warm path allocates no header object. */
const TOKEN_HEADERS: Readonly<Record<string, string>> = { ...JSON_TYPE, ...NO_STORE };

export function text(status: number, body: string, extra?: Record<string, string>): MetadataAnswer {
  return { status, headers: extra ? { ...TEXT, ...extra } : TEXT, body };
}

function json(
  value: unknown,
  headers: Readonly<Record<string, string>> = JSON_TYPE,
): MetadataAnswer {
  return { status: 200, headers, body: JSON.stringify(value) };
}

/** A refusal: one line that says what to fix, in the server's own text shape. */
export function refusal(
  status: number,
  message: string,
  extra?: Record<string, string>,
): MetadataAnswer {
  return text(status, `${message}\n`, extra);
}

function listing(entries: string[]): MetadataAnswer {
  return text(200, entries.map((entry) => `${entry}\n`).join(''));
}

function header(request: MetadataRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The pod's service account email as the API shows it: the Google one, or the workload pool's. */
export function emailOf(view: InstanceView): string {
  return view.googleServiceAccount ?? `${view.projectId}.svc.id.goog`;
}

function accountInfo(view: InstanceView): Record<string, unknown> {
  return { aliases: ['default'], email: emailOf(view), scopes: DEFAULT_SCOPES };
}

function projectInfo(view: InstanceView): Record<string, unknown> {
  return {
    ...(view.numericProjectId !== undefined
      ? { numericProjectId: Number(view.numericProjectId) }
      : {}),
    projectId: view.projectId,
  };
}

function accountsInfo(view: InstanceView): Record<string, unknown> {
  return { default: accountInfo(view), [emailOf(view)]: accountInfo(view) };
}

function instanceInfo(view: InstanceView): Record<string, unknown> {
  return { attributes: { ...view.attributes }, serviceAccounts: accountsInfo(view) };
}

/**
 * A directory: its listing, its recursive JSON (token and identity are never in it), and its
 * children, which are resolved lazily from the remaining path segments.
 */
interface Directory {
  entries: string[];
  recursive: () => unknown;
  child: (name: string) => Node | undefined;
}
/** The query reaches only the leaves that read it (token, identity). */
type Leaf = { leaf: (query: URLSearchParams) => MetadataAnswer | { need: TokenNeed } };
type Node = Directory | Leaf;

/**
 * What is made once per view, on first use: the tree, and the decisions already taken. The view
 * is fixed for a sidecar and per pod in node mode; a decision depends only on the path, the query
 * and the view, so a repeated request reuses it (answers and needs are never modified).
 */
interface ViewMemo {
  tree: Directory;
  decisions: Map<string, Decision>;
}
/** Decisions kept per view; when full the memo starts again. Long URLs are not kept. */
const DECISIONS_KEPT = 256;
const MAX_REMEMBERED_URL = 512;
const memos = new WeakMap<InstanceView, ViewMemo>();
function memoOf(view: InstanceView): ViewMemo {
  let memo = memos.get(view);
  if (!memo) {
    memo = { tree: tree(view), decisions: new Map() };
    memos.set(view, memo);
  }
  return memo;
}

function tree(view: InstanceView): Directory {
  const TOKEN: Leaf = { leaf: (query) => tokenNeed(query) };
  const IDENTITY: Leaf = { leaf: (query) => identityNeed(view, query) };
  const account: Directory = {
    entries: ['aliases', 'email', 'identity', 'scopes', 'token'],
    recursive: () => accountInfo(view),
    child: (name) => {
      switch (name) {
        case 'aliases':
          return { leaf: () => listing(['default']) };
        case 'email':
          return { leaf: () => text(200, emailOf(view)) };
        case 'scopes':
          return { leaf: () => listing(DEFAULT_SCOPES) };
        case 'token':
          return TOKEN;
        case 'identity':
          return IDENTITY;
        default:
          return undefined;
      }
    },
  };
  const accounts: Directory = {
    entries: ['default/', `${emailOf(view)}/`],
    recursive: () => accountsInfo(view),
    // Any other account is not this pod's: 404, as on GKE.
    child: (name) => (name === 'default' || name === emailOf(view) ? account : undefined),
  };
  const attributes: Directory = {
    entries: Object.keys(view.attributes).sort(),
    recursive: () => ({ ...view.attributes }),
    child: (name) =>
      Object.hasOwn(view.attributes, name)
        ? { leaf: () => text(200, view.attributes[name]!) }
        : undefined,
  };
  const instance: Directory = {
    entries: ['attributes/', 'service-accounts/'],
    recursive: () => instanceInfo(view),
    child: (name) =>
      name === 'attributes' ? attributes : name === 'service-accounts' ? accounts : undefined,
  };
  const project: Directory = {
    entries: [...(view.numericProjectId !== undefined ? ['numeric-project-id'] : []), 'project-id'],
    recursive: () => projectInfo(view),
    child: (name) => {
      if (name === 'project-id') return { leaf: () => text(200, view.projectId) };
      if (name === 'numeric-project-id' && view.numericProjectId !== undefined)
        return { leaf: () => text(200, view.numericProjectId!) };
      return undefined;
    },
  };
  // Both spellings: Node and Python read universe-domain, gcloud's constant is universe_domain.
  const universe: Directory = {
    entries: ['universe-domain'],
    recursive: () => ({ universeDomain: view.universeDomain }),
    child: (name) =>
      name === 'universe-domain' || name === 'universe_domain'
        ? { leaf: () => text(200, view.universeDomain) }
        : undefined,
  };
  return {
    entries: ['instance/', 'project/', 'universe/'],
    recursive: () => ({
      instance: instanceInfo(view),
      project: projectInfo(view),
      universe: { universeDomain: view.universeDomain },
    }),
    child: (name) =>
      name === 'instance'
        ? instance
        : name === 'project'
          ? project
          : name === 'universe'
            ? universe
            : undefined,
  };
}

function tokenNeed(query: URLSearchParams): MetadataAnswer | { need: TokenNeed } {
  const given = query.getAll('scopes').join(',');
  const scopes = [
    ...new Set(
      given
        .split(',')
        .map((scope) => scope.trim())
        .filter((scope) => scope !== ''),
    ),
  ];
  if (scopes.length > MAX_SCOPES)
    return refusal(400, `at most ${MAX_SCOPES} scopes may be asked for; got ${scopes.length}`);
  const bad = scopes.find((scope) => !SCOPE.test(scope));
  if (bad !== undefined)
    return refusal(
      400,
      `scope ${JSON.stringify(bad.slice(0, 80))} is not an OAuth scope: 1-256 printable characters without spaces, comma-separated in ?scopes=`,
    );
  return { need: { kind: 'access', scopes: scopes.length > 0 ? scopes : DEFAULT_SCOPES } };
}

function identityNeed(
  view: InstanceView,
  query: URLSearchParams,
): MetadataAnswer | { need: TokenNeed } {
  // format and licenses are accepted and change nothing: the token is Google's generateIdToken answer.
  const audience = (query.get('audience') ?? '').trim();
  if (audience === '') return refusal(400, 'non-empty audience parameter required');
  if (audience.length > MAX_AUDIENCE_CHARS || !AUDIENCE.test(audience))
    return refusal(
      400,
      `audience must be 1-${MAX_AUDIENCE_CHARS} printable characters without spaces`,
    );
  if (view.googleServiceAccount === undefined) {
    return refusal(
      404,
      `Your Kubernetes service account (${view.kubernetesServiceAccount}) is not annotated with a target Google service account, which is a requirement for retrieving Identity Tokens using Workload Identity. Please add the iam.gke.io/gcp-service-account=[GSA_NAME]@[PROJECT_ID].iam.gserviceaccount.com annotation to the Kubernetes service account (direct access cannot mint ID tokens).`,
    );
  }
  return { need: { kind: 'id', audience } };
}

function isRecursive(query: URLSearchParams): boolean {
  return (query.get('recursive') ?? '').toLowerCase() === 'true';
}

function decodeSegments(rest: string): string[] | undefined {
  try {
    return rest.split('/').map((segment) => decodeURIComponent(segment));
  } catch {
    return undefined;
  }
}

/** Readiness as the host knows it; /readyz answers from this. */
export type Readiness = { ready: true } | { ready: false; reason: string };

/** Where a request goes before any pod is looked up: an answer now, or the metadata tree. */
export type Gate = { answer: MetadataAnswer } | { metadata: true };

/**
 * The checks that need no identity. Order matters: refusals that protect tokens (method,
 * X-Forwarded-For, Metadata-Flavor) come before any path is looked at; `GET /` answers without
 * the header, because Go's detection probe sends none and looks only at the answer's
 * Metadata-Flavor. /healthz and /readyz are for kubelet, which sends no Metadata-Flavor.
 */
export function gate(request: MetadataRequest, readiness: () => Readiness): Gate {
  if (request.method !== 'GET')
    return {
      answer: refusal(
        405,
        `${request.method.slice(0, 16)} is not allowed: the metadata server answers GET only`,
        { allow: 'GET' },
      ),
    };
  if (header(request, 'x-forwarded-for') !== undefined) {
    return {
      answer: refusal(
        403,
        'requests with an X-Forwarded-For header are refused: the metadata server answers the pod itself, not a proxy relaying for someone else',
      ),
    };
  }
  const { path } = request;
  if (path === '/') return { answer: text(200, 'computeMetadata/\n') };
  if (path === '/healthz') return { answer: text(200, 'ok\n') };
  if (path === '/readyz') {
    const state = readiness();
    return { answer: state.ready ? text(200, 'ok\n') : refusal(503, `not ready: ${state.reason}`) };
  }
  if (path !== '/computeMetadata' && !path.startsWith('/computeMetadata/'))
    return {
      answer: refusal(
        404,
        `${path.slice(0, 200)} is not a metadata path; paths start with /computeMetadata/v1/`,
      ),
    };
  if (header(request, 'metadata-flavor')?.trim() !== 'Google') {
    return { answer: refusal(403, 'Missing required header "Metadata-Flavor": "Google"') };
  }
  return { metadata: true };
}

/** The query of a request without one (read only). */
const NO_QUERY = new URLSearchParams();

/** The answer to a request that passed gate(), for the pod described by `view`. */
export function decideMetadata(request: MetadataRequest, view: InstanceView): Decision {
  const memo = memoOf(view);
  const key = `${request.path}?${request.query}`;
  const known = memo.decisions.get(key);
  if (known) return known;
  const decision = decideFresh(request, memo.tree);
  if (key.length <= MAX_REMEMBERED_URL) {
    if (memo.decisions.size >= DECISIONS_KEPT) memo.decisions.clear();
    memo.decisions.set(key, decision);
  }
  return decision;
}

function decideFresh(request: MetadataRequest, root: Directory): Decision {
  const { path } = request;
  const query = request.query === '' ? NO_QUERY : new URLSearchParams(request.query);
  if (path === '/computeMetadata') return { answer: redirect(request) };
  if (path === '/computeMetadata/') return { answer: listing(['v1/']) };
  if (path !== '/computeMetadata/v1' && !path.startsWith('/computeMetadata/v1/'))
    return { answer: notFound(path) };
  const rest = path.slice('/computeMetadata/v1'.length);
  const segments = decodeSegments(rest.replace(/^\//, ''));
  if (!segments) return { answer: refusal(400, 'the path has a malformed percent-encoding') };
  const directorySlash = rest.endsWith('/');
  // "a/b/" splits into [a, b, ""]; the empty last segment marks the directory form.
  const names = rest === '' ? [] : directorySlash ? segments.slice(0, -1) : segments;
  let node: Node = root;
  for (const name of names) {
    if (!('child' in node) || name === '') return { answer: notFound(path) };
    const next: Node | undefined = node.child(name);
    if (!next) return { answer: notFound(path) };
    node = next;
  }
  if ('leaf' in node) {
    if (directorySlash) return { answer: notFound(path) };
    const leaf = node.leaf(query);
    return 'need' in leaf ? leaf : { answer: leaf };
  }
  if (!directorySlash) return { answer: redirect(request) };
  return { answer: isRecursive(query) ? json(node.recursive()) : listing(node.entries) };
}

/** gate() then decideMetadata(): every request's decision, for one pod. */
export function decide(
  request: MetadataRequest,
  view: InstanceView,
  readiness: Readiness = { ready: true },
): Decision {
  const gated = gate(request, () => readiness);
  return 'answer' in gated ? gated : decideMetadata(request, view);
}

/** A directory without its slash: 301 to the directory, the query kept (gms drops it; clients need recursive=true to survive). */
function redirect(request: MetadataRequest): MetadataAnswer {
  const location = `${request.path}/${request.query !== '' ? `?${request.query}` : ''}`;
  return text(301, `${request.path.replace(/^\//, '')}/\n`, { location });
}

function notFound(path: string): MetadataAnswer {
  return refusal(404, `${path.slice(0, 200)} is not served by this metadata server`);
}

/** An access token obtained for a TokenNeed, or why not. */
export type TokenResult =
  { ok: true; token: string; expiresAtMs: number } | { ok: false; failure: TokenFailure };

/** Why no token: the status to answer with and a message that says what to fix (never a token). */
export interface TokenFailure {
  status: 400 | 401 | 403 | 404 | 429 | 500 | 503;
  message: string;
  retryAfterSeconds?: number;
}

/**
 * The last /token answer per result: a token source that hands out the same result object for
 * a cached token (TokenSource does) gets the same answer back within the same second.
 */
const lastTokenAnswers = new WeakMap<TokenResult, { expiresIn: number; answer: MetadataAnswer }>();

/** /token: Google's metadata JSON; expires_in is the real time left, in whole seconds. */
export function tokenAnswer(result: TokenResult, nowMs: number): MetadataAnswer {
  if (!result.ok) return failureAnswer(result.failure);
  const expiresIn = Math.max(0, Math.floor((result.expiresAtMs - nowMs) / 1000));
  const last = lastTokenAnswers.get(result);
  if (last && last.expiresIn === expiresIn) return last.answer;
  const answer = json(
    { access_token: result.token, expires_in: expiresIn, token_type: 'Bearer' },
    TOKEN_HEADERS,
  );
  lastTokenAnswers.set(result, { expiresIn, answer });
  return answer;
}

/** /identity: the raw JWT, no trailing newline. */
export function identityAnswer(result: TokenResult): MetadataAnswer {
  if (!result.ok) return failureAnswer(result.failure);
  return text(200, result.token, NO_STORE);
}

export function failureAnswer(failure: TokenFailure): MetadataAnswer {
  return refusal(
    failure.status,
    failure.message,
    failure.retryAfterSeconds !== undefined
      ? { 'retry-after': String(failure.retryAfterSeconds) }
      : undefined,
  );
}
