import { createHash, generateKeyPair, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { SignJWT } from 'jose';
import { ensureLocalTls, type LocalTls } from '../hosts/node/local-tls.js';

/**
 * The smallest kube-apiserver `npm run demo` needs: the two service-account issuer endpoints over
 * HTTPS with its own CA, a bearer token for the sync job, projected tokens, and key rotation the
 * Kubernetes way. Demo code, not a test fake: it shows the loop, it does not model every answer.
 */
export interface StandInKey {
  kid: string;
  privateKey: KeyObject;
  jwk: Record<string, unknown>;
}

const generate = promisify(generateKeyPair);

export async function newKey(): Promise<StandInKey> {
  const { privateKey, publicKey } = await generate('ec', { namedCurve: 'P-256' });
  const kid = createHash('sha256')
    .update(publicKey.export({ format: 'der', type: 'spki' }))
    .digest('base64url');
  return {
    kid,
    privateKey,
    jwk: { ...(publicKey.export({ format: 'jwk' }) as object), kid, use: 'sig', alg: 'ES256' },
  };
}

export class StandInApiserver {
  keys: StandInKey[];
  signing: StandInKey;
  /** What the sync job's kubeconfig presents (a static token, as a kubeconfig user may carry). */
  readonly bearer = randomBytes(24).toString('base64url');
  private constructor(
    private readonly server: Server,
    readonly url: string,
    readonly tls: LocalTls,
    readonly issuer: string,
    first: StandInKey,
  ) {
    this.keys = [first];
    this.signing = first;
  }

  static async start(options: { issuer: string; tlsDir: string }): Promise<StandInApiserver> {
    if (!options.issuer.startsWith('https://'))
      throw new Error(
        'kube-apiserver serves no discovery for an http:// issuer; give an https:// one',
      );
    const tls = await ensureLocalTls(options.tlsDir);
    const server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      const send = (status: number, type: string, body: unknown) => {
        res.writeHead(status, { 'content-type': type });
        res.end(JSON.stringify(body));
      };
      if (req.headers.authorization !== `Bearer ${self.bearer}`)
        return send(401, 'application/json', {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          message: 'Unauthorized',
          reason: 'Unauthorized',
          code: 401,
        });
      if (path === '/openid/v1/jwks')
        return send(200, 'application/jwk-set+json', { keys: self.keys.map((k) => k.jwk) });
      if (path === '/.well-known/openid-configuration') {
        return send(200, 'application/json', {
          issuer: self.issuer,
          jwks_uri: `${self.issuer}/openid/v1/jwks`,
          response_types_supported: ['id_token'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['ES256'],
        });
      }
      send(404, 'application/json', {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'the server could not find the requested resource',
        reason: 'NotFound',
        details: {},
        code: 404,
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const self = new StandInApiserver(
      server,
      `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      tls,
      options.issuer,
      await newKey(),
    );
    return self;
  }

  /** A projected ServiceAccount token as kubelet gets it from the TokenRequest API. */
  token(namespace: string, serviceAccount: string, audience: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount, uid: randomUUID() } },
    })
      .setProtectedHeader({ alg: 'ES256', kid: this.signing.kid })
      .setIssuer(this.issuer)
      .setSubject(`system:serviceaccount:${namespace}:${serviceAccount}`)
      .setAudience(audience)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + 3600)
      .sign(this.signing.privateKey);
  }

  /** A kubeconfig that trusts this apiserver's CA (no insecure-skip-tls-verify) and carries the bearer. */
  kubeconfig(): string {
    return [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: demo',
      '  cluster:',
      `    server: ${this.url}`,
      `    certificate-authority-data: ${Buffer.from(this.tls.caPem).toString('base64')}`,
      'users:',
      '- name: sync',
      '  user:',
      `    token: ${this.bearer}`,
      'contexts:',
      '- name: demo',
      '  context: {cluster: demo, user: sync}',
      'current-context: demo',
      '',
    ].join('\n');
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
