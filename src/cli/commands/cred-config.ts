import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { externalAccountConfig, parseProvider } from '../../credentials/credential-config.js';
import { IdbridgeError } from '../../errors.js';
import { transportOf } from '../../net/loopback.js';
import { processIo, usageErrorsExit2 } from '../io.js';

interface CredConfigFlags {
  credentialSourceFile: string;
  credentialSourceType?: 'text';
  serviceAccount?: string;
  serviceAccountTokenLifetimeSeconds?: string;
  broker?: string;
  fleet?: boolean;
  outputFile?: string;
}

export function registerCredConfig(program: Command): void {
  usageErrorsExit2(
    program
      .command('cred-config')
      .description(
        'write a Google external_account credential configuration for a pod; same output as gcloud iam workload-identity-pools create-cred-config for the flags both have, plus --broker',
      )
      .argument(
        '<provider>',
        'workload identity provider: projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER (a //iam.googleapis.com/ prefix is accepted)',
      )
      .requiredOption(
        '--credential-source-file <path>',
        'path of the projected ServiceAccount token inside the pod',
      )
      .addOption(
        new Option(
          '--credential-source-type <type>',
          'how the token file is read (as gcloud)',
        ).choices(['text']),
      )
      .option(
        '--service-account <email>',
        'Google service account to impersonate; omit for direct principal access (the federated principal itself is granted roles)',
      )
      .option(
        '--service-account-token-lifetime-seconds <seconds>',
        'lifetime of the impersonated access token, 600-43200 (over 3600 needs an organisation policy)',
      )
      .option(
        '--broker <url>',
        'idbridge broker base URL: token_url and the impersonation URL point at it instead of Google (clusters without access to Google)',
      )
      .option(
        '--fleet',
        "fleet mode (docs/fleet.md): <provider> is the fleet provider and --broker is required, since only the broker can re-mint the cluster's token under the fleet issuer",
      )
      .option('--output-file <path>', 'where to write the configuration (default: stdout)'),
  ).action(async (providerName: string, flags: CredConfigFlags) => {
    const io = processIo();
    if (
      flags.serviceAccountTokenLifetimeSeconds !== undefined &&
      flags.serviceAccount === undefined
    ) {
      throw new IdbridgeError(
        'invalid_request',
        '--service-account-token-lifetime-seconds needs --service-account: a lifetime applies to impersonated tokens only',
      );
    }
    const lifetimeFlag = flags.serviceAccountTokenLifetimeSeconds;
    if (lifetimeFlag !== undefined && !/^\d{1,6}$/.test(lifetimeFlag)) {
      throw new IdbridgeError(
        'invalid_request',
        `--service-account-token-lifetime-seconds must be a whole number of seconds (600-43200), not ${JSON.stringify(lifetimeFlag.slice(0, 40))}`,
      );
    }
    const lifetime = lifetimeFlag === undefined ? undefined : Number(lifetimeFlag);
    if (flags.fleet && flags.broker === undefined)
      throw new IdbridgeError(
        'invalid_request',
        "--fleet needs --broker URL: Google trusts the fleet provider's issuer only for tokens the broker mints, so token_url must be the broker",
      );
    if (flags.broker !== undefined) {
      const transport = transportOf(flags.broker);
      if (transport.kind === 'invalid')
        throw new IdbridgeError('invalid_request', `--broker: ${transport.reason}`);
      if (transport.kind === 'plain-http')
        io.err(
          `idbridge: warning: --broker ${flags.broker} is plain HTTP: the pod's token and its Google access tokens would cross the network in clear; use https\n`,
        );
    }
    const config = externalAccountConfig({
      provider: parseProvider(providerName),
      tokenPath: flags.credentialSourceFile,
      ...(flags.credentialSourceType ? { format: flags.credentialSourceType } : {}),
      ...(flags.serviceAccount !== undefined ? { serviceAccountEmail: flags.serviceAccount } : {}),
      ...(lifetime !== undefined ? { tokenLifetimeSeconds: lifetime } : {}),
      ...(flags.broker !== undefined
        ? { stsUrl: flags.broker, iamCredentialsUrl: flags.broker }
        : {}),
    });
    // Byte for byte what gcloud writes: two-space indent, no trailing newline.
    const text = JSON.stringify(config, null, 2);
    if (flags.outputFile === undefined || flags.outputFile === '-') {
      io.out(`${text}\n`);
      return;
    }
    await writeFile(flags.outputFile, text);
    io.err(`Created credential configuration file [${flags.outputFile}].\n`);
  });
}
