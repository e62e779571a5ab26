import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import {
  methodNotAllowed,
  preflightAnswer,
  type PlainAnswer,
  type RouteDescriptor,
} from './route.js';

/** A plain answer as a Web Response (hono drops the body of a HEAD). */
export function webResponse(answer: PlainAnswer): Response {
  return new Response(answer.body as ConstructorParameters<typeof Response>[0], {
    status: answer.status,
    headers: answer.headers,
  });
}

/**
 * The one generator of hono routes from a descriptor: same match, same cap, same decision; then
 * its CORS preflight and the 405 of every other method, both from the descriptor's methods.
 */
export function mountRoute<P>(app: Hono, route: RouteDescriptor<P>): void {
  const methods = route.methods.filter((method) => method !== 'HEAD');
  const handler = async (c: Context): Promise<Response> => {
    const params = route.match(c.req.path);
    // hono matched its pattern, the descriptor did not (an encoded slash): not this route's.
    if (params === null) return c.notFound();
    const body = route.bodyCap > 0 ? await c.req.text() : '';
    try {
      return webResponse(
        await route.decide({
          method: c.req.method,
          path: c.req.path,
          params,
          header: (name) => c.req.header(name),
          body,
          query: c.req.query(),
        }),
      );
    } catch (err) {
      return webResponse(route.fail(err, c.req.path));
    }
  };
  for (const path of route.paths) {
    if (route.bodyCap > 0)
      app.on(
        methods,
        path,
        bodyLimit({ maxSize: route.bodyCap, onError: () => webResponse(route.tooLarge()) }),
        handler,
      );
    else app.on(methods, path, handler);
    const preflight = route.preflight && preflightAnswer(route as RouteDescriptor);
    if (preflight) app.options(path, () => webResponse(preflight));
    if (route.methodHint !== undefined)
      app.all(path, (c) => webResponse(methodNotAllowed(route as RouteDescriptor, c.req.method)));
  }
}
