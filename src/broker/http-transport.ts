import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** One HTTP exchange with an upstream, as the broker needs it: POST a body, read a bounded answer. */
export type Transport = (url: string, request: TransportRequest) => Promise<TransportAnswer>;

export interface TransportRequest {
  headers: Record<string, string>;
  body: string;
  /** The whole exchange (connect, send, read) is abandoned after this long. */
  timeoutMs: number;
  /** Answers longer than this are abandoned with AnswerTooLarge. */
  maxBytes: number;
}

export interface TransportAnswer {
  status: number;
  contentType?: string;
  retryAfter?: string;
  body: string;
}

export class TransportTimeout extends Error {
  override readonly name = 'TransportTimeout';
}

export class AnswerTooLarge extends Error {
  override readonly name = 'AnswerTooLarge';
}

/**
 * node:http(s) with kept-alive connections. The broker adds one hop to every token request, so
 * that hop is kept lean: a loopback round trip costs about a quarter of what `fetch` costs here.
 */
export function nodeTransport(): Transport {
  const agents = {
    http: new HttpAgent({ keepAlive: true, maxSockets: 256 }),
    https: new HttpsAgent({ keepAlive: true, maxSockets: 256 }),
  };
  return (url, request) =>
    new Promise<TransportAnswer>((resolve, reject) => {
      const secure = url.startsWith('https:');
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method: 'POST',
        agent: secure ? agents.https : agents.http,
        headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
      });
      const timer = setTimeout(() => req.destroy(new TransportTimeout()), request.timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      req.once('error', fail);
      req.once('response', (res: IncomingMessage) => {
        if (Number(res.headers['content-length']) > request.maxBytes) {
          req.destroy(new AnswerTooLarge());
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > request.maxBytes) req.destroy(new AnswerTooLarge());
          else chunks.push(chunk);
        });
        res.once('error', fail);
        res.once('aborted', () =>
          fail(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' })),
        );
        res.once('end', () => {
          clearTimeout(timer);
          if (!res.complete) {
            reject(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' }));
            return;
          }
          const retryAfter = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            ...(res.headers['content-type'] ? { contentType: res.headers['content-type'] } : {}),
            ...(retryAfter ? { retryAfter } : {}),
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      });
      req.end(request.body);
    });
}
