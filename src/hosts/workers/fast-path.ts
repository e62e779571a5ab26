import { webResponse } from '../../http/hono-route.js';
import {
  findFastRoute,
  pathOfUrl,
  type PlainAnswer,
  type RouteDescriptor,
} from '../../http/route.js';
import { readCapped } from '../../net/read-capped.js';

type Fetch = (request: Request) => Response | Promise<Response>;

/**
 * The one fast-path hook of the Workers host: a request for a fast route is decided by its
 * descriptor without hono's routing and context, with the one path splitter, the one capped body
 * reader and the route's one 413. Anything else goes to `app`.
 */
export function workersFastPath(routes: readonly RouteDescriptor[], app: Fetch): Fetch {
  const fast = routes.filter((route) => route.fast);
  if (fast.length === 0) return app;
  return (request) => {
    const path = pathOfUrl(request.url);
    const found = findFastRoute(fast, request.method, path);
    if (!found) return app(request);
    const { route, params } = found;
    // As hono does for HEAD: the GET's status and headers, no body.
    const respond =
      request.method === 'HEAD'
        ? (answer: PlainAnswer) => webResponse({ ...answer, body: null })
        : webResponse;
    const decide = (body: string): Response | Promise<Response> => {
      let answer: PlainAnswer | Promise<PlainAnswer>;
      try {
        answer = route.decide({
          method: request.method,
          path,
          params,
          header: (name) => request.headers.get(name) ?? undefined,
          body,
        });
      } catch (err) {
        return respond(route.fail(err, path));
      }
      // A document in memory is answered synchronously, without a microtask.
      return answer instanceof Promise
        ? answer.then(respond, (err: unknown) => respond(route.fail(err, path)))
        : respond(answer);
    };
    if (route.bodyCap === 0) return decide('');
    return readCapped(request, route.bodyCap).then((bytes) =>
      bytes === null ? respond(route.tooLarge()) : decide(new TextDecoder().decode(bytes)),
    );
  };
}
