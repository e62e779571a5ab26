import {
  Agent as HttpAgent,
  request as httpRequest,
  type ClientRequest,
  type IncomingMessage,
  type RequestOptions,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface KeptAliveAnswer {
  status: number;
  connection: string | undefined;
  body: string;
  /** The local port of the client socket: equal ports mean the same connection was reused. */
  localPort: number;
}

export interface HeldRequest {
  /** Sends the rest of the body; resolves to the answer (rejects on ECONNRESET and the like). */
  finish(): Promise<KeptAliveAnswer>;
}

/**
 * A client on one kept-alive connection (node:http Agent with keepAlive, one socket), as a busy
 * client talks to a server: every request reuses the same connection while the server allows it.
 */
export class KeptAliveClient {
  readonly #agent: HttpAgent;
  readonly #request: typeof httpRequest;

  constructor(
    readonly url: string,
    options: { ca?: string } = {},
  ) {
    const https = url.startsWith('https:');
    this.#agent = https
      ? new HttpsAgent({
          keepAlive: true,
          maxSockets: 1,
          ...(options.ca ? { ca: options.ca } : {}),
        })
      : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    this.#request = https ? (httpsRequest as unknown as typeof httpRequest) : httpRequest;
  }

  send(
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string } = {},
  ): Promise<KeptAliveAnswer> {
    return new Promise((resolve, reject) => {
      const req = this.#open(path, init.method ?? 'GET', init.headers ?? {}, resolve, reject);
      req.end(init.body);
    });
  }

  /**
   * A request the server is provably working on: its headers carry `Expect: 100-continue`, and
   * this resolves once the server has answered `100 Continue` (it has parsed the request and
   * handed it to the host), while the body is held back until `finish`.
   */
  hold(
    path: string,
    init: { method: string; headers: Record<string, string>; body: string },
  ): Promise<HeldRequest> {
    return new Promise((resolveHeld, rejectHeld) => {
      const answer = new Promise<KeptAliveAnswer>((resolve, reject) => {
        const req = this.#open(
          path,
          init.method,
          {
            ...init.headers,
            expect: '100-continue',
            'content-length': String(Buffer.byteLength(init.body)),
          },
          resolve,
          reject,
        );
        req.once('continue', () =>
          resolveHeld({
            finish: () => {
              req.end(init.body);
              return answer;
            },
          }),
        );
        req.once('error', rejectHeld);
        req.flushHeaders();
      });
      answer.catch(() => {});
    });
  }

  close(): void {
    this.#agent.destroy();
  }

  #open(
    path: string,
    method: string,
    headers: Record<string, string>,
    resolve: (answer: KeptAliveAnswer) => void,
    reject: (err: Error) => void,
  ): ClientRequest {
    const options: RequestOptions = { method, headers, agent: this.#agent };
    const req = this.#request(new URL(path, this.url), options, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      const localPort = res.socket.localPort ?? 0;
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          connection: res.headers.connection,
          body: Buffer.concat(chunks).toString('utf8'),
          localPort,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    return req;
  }
}

/** Resolves with `what` settled, or rejects once `ms` passed: a ceiling, not a measurement. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const ceiling = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, ceiling]).finally(() => clearTimeout(timer));
}
