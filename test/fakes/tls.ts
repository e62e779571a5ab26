import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A throwaway certificate authority and a server certificate for 127.0.0.1/localhost, made with the openssl CLI. */
export interface TestPki {
  caPem: string;
  serverKeyPem: string;
  serverCertPem: string;
}

let cached: Promise<TestPki> | undefined;

/** One CA per test process: generating keys takes tens of milliseconds each. */
export function testPki(): Promise<TestPki> {
  cached ??= generate();
  return cached;
}

async function generate(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'idbridge-pki-'));
  const path = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  try {
    await run('openssl', [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      path('ca.key'),
      '-out',
      path('ca.crt'),
      '-days',
      '2',
      '-subj',
      '/CN=idbridge test cluster CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await run('openssl', [
      'req',
      ...ec,
      '-keyout',
      path('server.key'),
      '-out',
      path('server.csr'),
      '-subj',
      '/CN=kube-apiserver',
    ]);
    await writeFile(
      path('ext.cnf'),
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n',
    );
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      path('server.csr'),
      '-CA',
      path('ca.crt'),
      '-CAkey',
      path('ca.key'),
      '-CAcreateserial',
      '-out',
      path('server.crt'),
      '-days',
      '2',
      '-extfile',
      path('ext.cnf'),
    ]);
    const [caPem, serverKeyPem, serverCertPem] = await Promise.all(
      ['ca.crt', 'server.key', 'server.crt'].map((name) => readFile(path(name), 'utf8')),
    );
    return { caPem: caPem!, serverKeyPem: serverKeyPem!, serverCertPem: serverCertPem! };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
