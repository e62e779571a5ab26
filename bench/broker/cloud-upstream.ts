import { startFakeAwsSts } from '../../test/fakes/aws-sts.js';
import { startFakeEntra } from '../../test/fakes/entra.js';
import { testPki } from '../../test/fakes/tls.js';

/**
 * The fake AWS STS and Entra ID in a process of their own, for clouds.ts, trusting the issuer
 * named in argv (its OIDC provider, role `bench`, app with a federated credential for every
 * ServiceAccount of namespace `apps`). Sends their URLs over the IPC channel, exits on "close".
 */
const [issuer, roleArn, tenantId, clientId] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
];
const pki = await testPki();
const aws = await startFakeAwsSts({
  allowHttpIssuers: true,
  providers: [{ issuer, clientIds: ['sts.amazonaws.com'] }],
  roles: [{ arn: roleArn, issuer, subjects: ['system:serviceaccount:apps:*'] }],
});
const entra = await startFakeEntra({
  tls: { cert: pki.serverCertPem, key: pki.serverKeyPem },
  tenants: [{ id: tenantId }],
  apps: [
    {
      clientId,
      tenantId,
      federatedCredentials: Array.from({ length: 20 }, (_, i) => ({
        issuer,
        subject: `system:serviceaccount:apps:app-${i}`,
      })),
    },
  ],
});
process.on('message', (command: { type: 'close' }) => {
  if (command.type === 'close')
    void Promise.all([aws.close(), entra.close()]).then(() => process.exit(0));
});
process.send!({ aws: aws.url, entra: entra.httpUrl });
