import { generateKeyPair, randomBytes, X509Certificate } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';

/**
 * `serve --tls=local`: a certificate authority of this machine and a serving certificate for
 * loopback, kept in DATA_DIR/tls. kube-apiserver refuses an http:// issuer, so even a laptop
 * trial needs https; trusting one local CA (NODE_EXTRA_CA_CERTS, curl --cacert) is the honest
 * alternative to skipping verification. node:crypto makes keys but cannot sign certificates,
 * so node-forge does the X.509 part.
 */
export interface LocalTls {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  caPem: string;
  cert: string;
  key: string;
  /** True when this start made the CA (first start); false when it was reused. */
  caCreated: boolean;
}

export const LOOPBACK_NAMES: readonly string[] = ['127.0.0.1', '::1', 'localhost'];

const CA_DAYS = 3650;
const SERVER_DAYS = 365;
/** A serving certificate this close to expiry is reissued at startup (from the same CA). */
const RENEW_BEFORE_MS = 30 * 24 * 3600_000;

const generateRsa = promisify(generateKeyPair);

/** Loads the local CA and serving certificate from `dir`, making what is missing, stale or not covering `names`. */
export async function ensureLocalTls(
  dir: string,
  options: { names?: readonly string[]; now?: () => Date } = {},
): Promise<LocalTls> {
  const now = options.now ?? (() => new Date());
  const names = [...new Set([...LOOPBACK_NAMES, ...(options.names ?? [])])];
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.crt');
  const caKeyFile = join(dir, 'ca.key');
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');

  let ca = await readPair(caFile, caKeyFile);
  const caCreated = ca === undefined;
  if (!ca) {
    ca = await makeCa(now());
    // The key first: a CA certificate without its key would be reused and fail to issue.
    await writePrivate(caKeyFile, ca.key);
    await writePublic(caFile, ca.cert);
  }
  await chmod(caKeyFile, 0o600);

  let server = await readPair(certFile, keyFile);
  if (!server || !servesFor(server.cert, ca.cert, names, now())) {
    server = await makeServerCertificate(ca, names, now());
    await writePrivate(keyFile, server.key);
    await writePublic(certFile, server.cert);
  }
  return {
    dir,
    caFile,
    certFile,
    keyFile,
    caPem: ca.cert,
    cert: server.cert,
    key: server.key,
    caCreated,
  };
}

interface Pair {
  cert: string;
  key: string;
}

async function readPair(certFile: string, keyFile: string): Promise<Pair | undefined> {
  try {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    new X509Certificate(cert);
    return { cert, key };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(
      `the local TLS files ${certFile} and ${keyFile} cannot be used (${(err as NodeJS.ErrnoException).code ?? 'not a certificate'}); delete them to make new ones`,
      { cause: err },
    );
  }
}

/** Signed by this CA, valid for a while yet, and naming every host it is served under. */
function servesFor(certPem: string, caPem: string, names: readonly string[], now: Date): boolean {
  const cert = new X509Certificate(certPem);
  if (
    !cert.checkIssued(new X509Certificate(caPem)) ||
    !cert.verify(new X509Certificate(caPem).publicKey)
  )
    return false;
  if (Date.parse(cert.validTo) - now.getTime() < RENEW_BEFORE_MS) return false;
  return names.every((name) =>
    isIP(name) ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined,
  );
}

async function rsaKey(): Promise<{
  pem: string;
  forgeKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
}> {
  // node:crypto generates off the event loop; forge's own generator would block it.
  const { privateKey, publicKey } = await generateRsa('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  return {
    pem,
    forgeKey: forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey,
    publicKey: forge.pki.publicKeyFromPem(
      publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    ) as forge.pki.rsa.PublicKey,
  };
}

function newCertificate(
  publicKey: forge.pki.rsa.PublicKey,
  now: Date,
  days: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive (leading 0x01), unique enough for one machine's CA.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  // A minute back: a client whose clock is slightly behind still accepts a fresh certificate.
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 24 * 3600_000);
  return cert;
}

async function makeCa(now: Date): Promise<Pair> {
  const key = await rsaKey();
  const cert = newCertificate(key.publicKey, now, CA_DAYS);
  const subject = [
    { name: 'commonName', value: 'idbridge local CA' },
    { name: 'organizationName', value: 'idbridge (this machine only)' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

async function makeServerCertificate(ca: Pair, names: readonly string[], now: Date): Promise<Pair> {
  const key = await rsaKey();
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const cert = newCertificate(key.publicKey, now, SERVER_DAYS);
  cert.setSubject([{ name: 'commonName', value: 'idbridge serve (loopback)' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: names.map((name) =>
        isIP(name) ? { type: 7, ip: name } : { type: 2, value: name },
      ),
    },
    { name: 'subjectKeyIdentifier' },
    {
      name: 'authorityKeyIdentifier',
      keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes(),
    },
  ]);
  cert.sign(
    forge.pki.privateKeyFromPem(ca.key) as forge.pki.rsa.PrivateKey,
    forge.md.sha256.create(),
  );
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/** Written under a temporary name and renamed: a crash never leaves half a key. */
async function writePrivate(path: string, text: string): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, text, { mode: 0o600 });
  await rename(temporary, path);
}

async function writePublic(path: string, text: string): Promise<void> {
  const temporary = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temporary, text, { mode: 0o644 });
  await rename(temporary, path);
}

/** What `serve` prints once TLS is local: where the CA is and how each client trusts it. */
export function trustInstructions(tls: LocalTls, publicUrl: string): string {
  return [
    `idbridge: serving HTTPS with a local CA (${tls.caCreated ? 'made now' : 'reused'}; its key ${join(tls.dir, 'ca.key')} is readable by you only).`,
    `Trust ${tls.caFile} — and nothing wider — wherever a client talks to ${publicUrl}:`,
    `    Node (idbridge clusters/sync/doctor, npm run demo):  export NODE_EXTRA_CA_CERTS=${tls.caFile}`,
    `    curl:  curl --cacert ${tls.caFile} ${publicUrl}/healthz`,
    `    kube-apiserver:  --service-account-issuer=${publicUrl}/CLUSTER --service-account-jwks-uri=${publicUrl}/CLUSTER/openid/v1/jwks`,
    '        (it never fetches its own issuer: it only insists on https, so kind/k3d/minikube nodes need no copy of this CA;',
    '         a sync job in a pod that pushes here does: mount ca.crt and set NODE_EXTRA_CA_CERTS to it)',
    '',
  ].join('\n');
}
