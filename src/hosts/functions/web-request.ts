import type { IncomingMessage, ServerResponse } from 'node:http';

/** What the Functions Framework hands an HTTP function: Express's request with the untouched body bytes. */
export interface FrameworkRequest extends IncomingMessage {
  rawBody?: Buffer;
  originalUrl?: string;
  protocol?: string;
}

/**
 * The Web Request for the hono app. The framework has already read and parsed JSON, text and form
 * bodies, keeping the bytes on `rawBody`; a body it did not parse (no Content-Type) is still on the
 * stream. The app parses the body itself, with its own limits and error messages.
 */
export async function toWebRequest(req: FrameworkRequest): Promise<Request> {
  const method = req.method ?? 'GET';
  const url = new URL(
    req.originalUrl ?? req.url ?? '/',
    `${req.protocol ?? 'http'}://${req.headers.host ?? 'localhost'}`,
  );
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(name, item);
  }
  let body: Uint8Array | undefined;
  if (method !== 'GET' && method !== 'HEAD') {
    body = Buffer.isBuffer(req.rawBody)
      ? req.rawBody
      : req.readableEnded
        ? Buffer.alloc(0)
        : await readStream(req);
    // The bytes are complete now; a stale or chunked framing header must not describe them.
    headers.delete('transfer-encoding');
    headers.set('content-length', String(body.byteLength));
  }
  return new Request(url, { method, headers, ...(body !== undefined ? { body } : {}) });
}

/** Writes the app's Web Response through the framework's Node response. */
export async function sendWebResponse(
  res: ServerResponse,
  response: Response,
  method: string,
): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    headers[name] = name === 'set-cookie' ? response.headers.getSetCookie() : value;
  });
  res.writeHead(response.status, headers);
  if (method === 'HEAD' || response.body === null) {
    res.end();
    return;
  }
  res.end(Buffer.from(await response.arrayBuffer()));
}

function readStream(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
