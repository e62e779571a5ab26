import { IdbridgeError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { errorBody, retryAfterSeconds, truncate, unexpectedErrorFields } from './errors.js';
import { awsStsError } from './wire/aws-sts.js';
import { entraError } from './wire/entra.js';
import { iamError } from './wire/google-iam.js';
import { stsError } from './wire/google-sts.js';
import { idbridgeAnswer } from './wire/idbridge.js';

/** The wire shape a route answers its refusals in. */
export type WireShape = 'idbridge' | 'sts' | 'iam' | 'aws-sts' | 'entra';

/** What a route decides, before any host turns it into its own response type. */
export interface PlainAnswer {
  status: number;
  headers: Readonly<Record<string, string>>;
  /** null for no body (HEAD, 204, 304). */
  body: string | Uint8Array | null;
}

/** A request as every host hands it to a route: the undecoded path without the query, the body as text. */
export interface RouteRequest<P> {
  method: string;
  path: string;
  params: P;
  header(name: string): string | undefined;
  /** '' for routes without a body cap (the body is not read). */
  body: string;
  /** The query's parameters (first value of each), where the host parsed them (hono; fast routes read none). */
  query?: Readonly<Record<string, string>>;
}

/**
 * One capability's route: which paths and methods it answers, how much body it reads, the wire
 * shape of its refusals and the one decision every host calls (hono routes are generated from
 * it, and the Node and Workers fast paths call it straight from the socket).
 */
export interface RouteDescriptor<P = unknown> {
  name: string;
  /** The paths in hono's pattern syntax, for the generated hono routes. */
  paths: readonly string[];
  /** The params of an undecoded path without query, or null when the path is not this route's. */
  match(path: string): P | null;
  /** The methods `decide` answers (HEAD is answered with GET on hono). */
  methods: readonly string[];
  /** Largest body read, in bytes; 0 = the body is not read. */
  bodyCap: number;
  shape: WireShape;
  /** Refusals are answers; a throw (a store that failed) is answered by `fail`. */
  decide(request: RouteRequest<P>): PlainAnswer | Promise<PlainAnswer>;
  /** The one 413 of this route (with `connection: close`: the rest of the body is still on the wire). */
  tooLarge(): PlainAnswer;
  /** What a thrown error answers, in this route's shape (logged where the route's app would log it). */
  fail(err: unknown, path: string): PlainAnswer;
  /** Whether the Node and Workers hosts answer it before hono (kept only where a benchmark row shows it pays). */
  fast: boolean;
  /**
   * Where the 405 of any other method sends the caller, after "<METHOD> is not allowed " (e.g.
   * "here; use POST"); absent: other methods fall through to the app's 404.
   */
  methodHint?: string;
  /** Browsers may call it: OPTIONS answers 204 with these CORS headers (and `Allow`). */
  preflight?: Readonly<Record<string, string>>;
}

/** The methods a route answers, as its `Allow` header lists them (OPTIONS when it has a preflight). */
export function allowOf(route: RouteDescriptor): string {
  return [...route.methods, ...(route.preflight ? ['OPTIONS'] : [])].join(', ');
}

/** A refusal in one wire shape: the one mapping per shape every generated answer goes through. */
export function shapedError(
  shape: WireShape,
  err: IdbridgeError,
  headers: Record<string, string> = {},
): PlainAnswer {
  if (shape === 'sts') return stsError(err, headers);
  if (shape === 'iam') return iamError(err, headers);
  if (shape === 'aws-sts') return awsStsError(err, headers);
  if (shape === 'entra') return entraError(err, headers);
  return idbridgeAnswer(err, headers);
}

/** The one 405 of every route, in its wire shape, with the `Allow` its methods make. */
export function methodNotAllowed(route: RouteDescriptor, method: string): PlainAnswer {
  return shapedError(
    route.shape,
    new IdbridgeError(
      'method_not_allowed',
      `${truncate(method, 16)} is not allowed ${route.methodHint ?? 'here'}`,
    ),
    { allow: allowOf(route) },
  );
}

/** The CORS preflight of a route that has one: 204, `Allow` and the route's CORS headers. */
export function preflightAnswer(route: RouteDescriptor): PlainAnswer {
  return { status: 204, headers: { allow: allowOf(route), ...route.preflight }, body: null };
}

/** The wire shape of the route answering `path` (undecoded, no query); idbridge's own when none does. */
export function shapeOfPath(routes: readonly RouteDescriptor[], path: string): WireShape {
  return routes.find((route) => route.match(path) !== null)?.shape ?? 'idbridge';
}

/** The path of a request target (`/a/b?x` → `/a/b`): the one splitter of every fast path. */
export function pathOfTarget(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

/** The path of an absolute request URL (as the runtime normalized it), without query or fragment. */
export function pathOfUrl(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const query = url.indexOf('?', start);
  const hash = url.indexOf('#', start);
  const end = query === -1 ? (hash === -1 ? url.length : hash) : query;
  return url.slice(start, end);
}

/** A path segment as hono hands it to routes (decoded; kept as sent when it does not decode). */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The first fast route answering `method` on `path`, with its params. */
export function findFastRoute(
  routes: readonly RouteDescriptor[],
  method: string,
  path: string,
): { route: RouteDescriptor; params: unknown } | undefined {
  for (const route of routes) {
    if (!route.fast || !route.methods.includes(method)) continue;
    const params = route.match(path);
    if (params !== null) return { route, params };
  }
  return undefined;
}

/** idbridge's JSON error shape as a plain answer (what errorResponse sends through hono). */
export function jsonErrorAnswer(
  err: IdbridgeError,
  headers: Record<string, string> = {},
): PlainAnswer {
  const retryAfter = retryAfterSeconds(err);
  return {
    status: err.status,
    headers: {
      'content-type': 'application/json',
      ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
      ...headers,
    },
    body: JSON.stringify(errorBody(err)),
  };
}

/** The 413 of an idbridge JSON route whose cap is `maxBytes`. */
export function jsonTooLarge(maxBytes: number): PlainAnswer {
  return jsonErrorAnswer(
    new IdbridgeError(
      'payload_too_large',
      `the request body is larger than ${maxBytes / 1024} KiB; send only the documents the endpoint asks for`,
    ),
    { connection: 'close' },
  );
}

/** A thrown error on an idbridge JSON route, logged and answered as the apps' onError (handleError) does. */
export function jsonFailure(logger: Logger): (err: unknown, path: string) => PlainAnswer {
  return (err, path) => {
    if (err instanceof IdbridgeError) {
      if (err.status >= 500)
        logger.error('request failed', { code: err.code, error: err.message, path });
      return jsonErrorAnswer(err);
    }
    logger.error('unexpected error', { ...unexpectedErrorFields(err), path });
    return jsonErrorAnswer(
      new IdbridgeError('internal', 'internal error; the server log has the details'),
    );
  };
}
