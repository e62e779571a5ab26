import type { IncomingMessage } from 'node:http';

/**
 * A request's body, at most `maxBytes`: 'too-large' as soon as it declares or sends more (what is
 * still on the wire is not kept; the caller answers 413 and closes the connection), 'aborted'
 * when the client went away.
 */
export function readRequestBody(
  req: IncomingMessage,
  maxBytes: number,
): Promise<Buffer | 'too-large' | 'aborted'> {
  if (Number(req.headers['content-length'] ?? 0) > maxBytes) return Promise.resolve('too-large');
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.off('end', onEnd);
      resolve('too-large');
    };
    const onEnd = () => resolve(Buffer.concat(chunks));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', () => resolve('aborted'));
  });
}
