import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * GET a JSON document as a cloud fetches an issuer's: over HTTP(S), trusting `ca` when given (the
 * loopback test CA), with a bound on time and size. Throws on any failure.
 */
export function fetchJson(url: string, ca?: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const secure = url.startsWith('https:');
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      { method: 'GET', headers: { accept: 'application/json' }, ...(secure && ca ? { ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > 1024 * 1024) req.destroy(new Error('document too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`${url} answered ${res.statusCode}`));
            return;
          }
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err as Error);
          }
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end();
  });
}
