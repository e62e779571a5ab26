// The real AWS and Azure SDKs in a process of their own, configured by the environment alone (as
// the webhook renders it), with NODE_EXTRA_CA_CERTS trusting the loopback test CA. Prints one
// JSON line: the result of each mode named in argv, or its error.
import { fromNodeProviderChain, fromTokenFile } from '@aws-sdk/credential-providers';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { DefaultAzureCredential, WorkloadIdentityCredential } from '@azure/identity';

const modes = {
  async 'aws-token-file'() {
    return callerIdentity(await fromTokenFile()());
  },
  async 'aws-chain'() {
    return callerIdentity(await fromNodeProviderChain()());
  },
  async 'azure-workload'() {
    return azureToken(new WorkloadIdentityCredential({ disableInstanceDiscovery: true }));
  },
  async 'azure-default'() {
    return azureToken(new DefaultAzureCredential({ disableInstanceDiscovery: true }));
  },
};

/** GetCallerIdentity signed with the credentials, sent to the fake STS itself (FAKE_STS_URL). */
async function callerIdentity(credentials) {
  const sts = new STSClient({
    region: process.env.AWS_REGION,
    endpoint: process.env.FAKE_STS_URL,
    credentials,
  });
  const identity = await sts.send(new GetCallerIdentityCommand({}));
  return {
    accessKeyId: credentials.accessKeyId,
    expiration: credentials.expiration?.toISOString(),
    arn: identity.Arn,
    account: identity.Account,
  };
}

async function azureToken(credential) {
  const token = await credential.getToken('https://management.azure.com/.default');
  return { token: token.token, expiresOnTimestamp: token.expiresOnTimestamp };
}

const results = [];
for (const mode of process.argv.slice(2)) {
  try {
    results.push({ mode, ok: true, ...(await modes[mode]()) });
  } catch (err) {
    results.push({
      mode,
      ok: false,
      name: err?.name,
      message: String(err?.message ?? err).slice(0, 2000),
    });
  }
}
process.stdout.write(`${JSON.stringify(results)}\n`);
