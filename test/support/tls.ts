import type { TLSSocket } from 'node:tls';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificate {
  certFile: string;
  keyFile: string;
  /** PEM of the (self-signed) certificate: the CA a client trusts. */
  cert: string;
}

/**
 * A self-signed P-256 serving certificate for 127.0.0.1/localhost, made by the openssl CLI
 * (what an operator would use; cert-manager makes the same shape).
 */
export async function makeCertificate(
  dir: string,
  name = 'tls',
  commonName = 'idbridge-webhook.test',
): Promise<TestCertificate> {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    `/CN=${commonName}`,
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ]);
  return { certFile, keyFile, cert: await readFile(certFile, 'utf8') };
}

export interface HttpsAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** The certificate the server presented (its PEM-less fingerprint and subject). */
  peer: { fingerprint256: string; subjectCN: string };
  protocol: string | null;
}

/** One HTTPS request that trusts `ca` only (fetch cannot take a CA without a dispatcher). */
export function httpsRequest(
  url: string,
  options: {
    ca: string | string[];
    method?: string;
    body?: string | Buffer;
    headers?: Record<string, string>;
    maxVersion?: 'TLSv1.2' | 'TLSv1.3';
    timeoutMs?: number;
  },
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        headers: options.headers,
        agent: false,
        ...(options.maxVersion ? { maxVersion: options.maxVersion } : {}),
      },
      (res) => {
        const socket = res.socket as TLSSocket;
        const peer = socket.getPeerCertificate();
        const protocol = socket.getProtocol();
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            peer: {
              fingerprint256: peer?.fingerprint256 ?? '',
              subjectCN: String(peer?.subject?.CN ?? ''),
            },
            protocol,
          });
        });
      },
    );
    req.on('error', reject);
    // A request that is never answered fails the test with a reason instead of hanging it.
    req.setTimeout(options.timeoutMs ?? 15_000, () =>
      req.destroy(new Error(`no answer from ${url} within ${options.timeoutMs ?? 15_000} ms`)),
    );
    req.end(options.body);
  });
}
