import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Writes objects into a bucket (this static server, the GCS fake through @google-cloud/storage, …). */
export interface BucketWriter {
  putObject(name: string, body: string, contentType: string): Promise<void>;
  deleteObject(name: string): Promise<void>;
}

export interface StaticBucket extends BucketWriter {
  /** What a client puts in place of https://storage.googleapis.com. */
  url: string;
  bucket: string;
  close(): Promise<void>;
}

/**
 * The smallest stand-in for GCS public object reads (`GET /{bucket}/{object}`): bytes as
 * written, a quoted MD5 ETag and 304 on If-None-Match as GCS does, and GCS's XML NoSuchKey 404.
 */
export async function startStaticBucket(bucket = 'edge-test-bucket'): Promise<StaticBucket> {
  const objects = new Map<string, { body: Buffer; contentType: string; etag: string }>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const prefix = `/${bucket}/`;
    const object = path.startsWith(prefix) ? objects.get(path.slice(prefix.length)) : undefined;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end();
    } else if (!object) {
      res.writeHead(404, { 'content-type': 'application/xml; charset=UTF-8' });
      res.end(
        `<?xml version='1.0' encoding='UTF-8'?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>`,
      );
    } else if (req.headers['if-none-match'] === object.etag) {
      res.writeHead(304, { etag: object.etag }).end();
    } else {
      res.writeHead(200, {
        'content-type': object.contentType,
        'content-length': object.body.byteLength,
        etag: object.etag,
        'cache-control': 'public, max-age=3600',
      });
      res.end(req.method === 'HEAD' ? undefined : object.body);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    bucket,
    async putObject(name, body, contentType) {
      const bytes = Buffer.from(body);
      objects.set(name, {
        body: bytes,
        contentType,
        etag: `"${createHash('md5').update(bytes).digest('hex')}"`,
      });
    },
    async deleteObject(name) {
      objects.delete(name);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
