import type { Command } from 'commander';
import {
  awsSetupPlan,
  azureSetupPlan,
  renderCloudPlan,
  type AwsSetupInput,
  type AzureSetupInput,
  type CloudSetupPlan,
} from '../../cloud-setup/plan.js';
import { processIo, usageErrorsExit2 } from '../io.js';
import { defineGcpSetup } from './gcp-setup.js';

const print = (plan: CloudSetupPlan, json: boolean | undefined) =>
  processIo().out(json ? `${JSON.stringify(plan, null, 2)}\n` : renderCloudPlan(plan));

/** `setup gcp|aws|azure`: what each cloud needs to trust a cluster's issuer (printed, never run). */
export function registerSetup(program: Command): void {
  const setup = usageErrorsExit2(
    program
      .command('setup')
      .description(
        'print the commands that make Google Cloud, AWS or Azure trust the cluster issuer (nothing is run)',
      ),
  );
  // The same definition as gcp-setup, which keeps working under its old name.
  defineGcpSetup(setup.command('gcp'));

  const workload = (command: Command) =>
    command
      .requiredOption(
        '--issuer <url>',
        "the cluster's issuer at the edge, e.g. https://issuer.example.com/c1 (exactly the tokens' iss)",
      )
      .requiredOption('--namespace <name>', 'Kubernetes namespace of the workload')
      .requiredOption('--service-account <name>', 'Kubernetes ServiceAccount of the workload')
      .option('--json', 'the plan as JSON (commands as argument arrays)');

  usageErrorsExit2(
    workload(
      setup
        .command('aws')
        .description(
          'print the aws iam commands for an OIDC identity provider of the issuer and a role whose trust policy names the ServiceAccount',
        )
        .requiredOption('--account-id <id>', '12-digit AWS account id that holds the role'),
    )
      .option('--role-name <name>', 'IAM role name (default idbridge-NAMESPACE-SERVICEACCOUNT)')
      .option('--audience <aud>', 'token audience (default sts.amazonaws.com)')
      .option('--partition <partition>', 'aws, aws-cn or aws-us-gov (default aws)'),
  ).action((flags: AwsSetupInput & { json?: boolean }) => {
    const { json, ...input } = flags;
    print(awsSetupPlan(input), json);
  });

  usageErrorsExit2(
    workload(
      setup
        .command('azure')
        .description(
          'print the az identity federated-credential command that lets the ServiceAccount act as a managed identity',
        )
        .requiredOption('--identity-name <name>', 'the user-assigned managed identity')
        .requiredOption('--resource-group <name>', 'its resource group'),
    )
      .option(
        '--name <name>',
        'federated credential name (default idbridge-NAMESPACE-SERVICEACCOUNT)',
      )
      .option('--audience <aud>', 'token audience (default api://AzureADTokenExchange)'),
  ).action((flags: AzureSetupInput & { json?: boolean }) => {
    const { json, ...input } = flags;
    print(azureSetupPlan(input), json);
  });
}
