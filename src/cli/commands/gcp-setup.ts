import type { Command } from 'commander';
import {
  gcpSetupPlan,
  RECOMMENDED_CONDITION,
  renderPlan,
  type GcpSetupInput,
} from '../../gcp-setup/plan.js';
import { processIo, usageErrorsExit2 } from '../io.js';

type GcpSetupFlags = GcpSetupInput & { json?: boolean };

export function registerGcpSetup(program: Command): void {
  defineGcpSetup(program.command('gcp-setup'));
}

/**
 * The options and action of `gcp-setup`, defined once: `setup gcp` is built from this same
 * function, so a flag added here appears under both names.
 */
export function defineGcpSetup(command: Command): Command {
  return usageErrorsExit2(
    command
      .description(
        'print the gcloud commands that create the workload identity pool, the OIDC provider for a cluster and the IAM binding (nothing is run)',
      )
      .requiredOption(
        '--project-number <number>',
        'Google Cloud project NUMBER that holds the pool',
      )
      .requiredOption(
        '--issuer <url>',
        "the cluster's issuer at the edge, e.g. https://issuer.example.com/c1 (exactly the tokens' iss)",
      )
      .option('--pool <id>', 'workload identity pool id', 'idbridge')
      .option(
        '--provider <id>',
        "provider id (default: derived from the cluster id, the issuer's last path segment: itself if Google accepts it, c1 becomes idbridge-c1, over 32 characters is shortened with a hash)",
      )
      .option(
        '--service-account <email>',
        'Google service account the workload impersonates; omit for direct resource access',
      )
      .option('--namespace <name>', 'Kubernetes namespace of the workload')
      .option(
        '--kube-service-account <name>',
        'Kubernetes ServiceAccount of the workload (with --namespace; without it, the whole namespace)',
      )
      .option(
        '--attribute-condition <cel>',
        `CEL condition on tokens (default: ${RECOMMENDED_CONDITION})`,
      )
      .option('--no-create-pool', 'the pool exists already: leave out its create command')
      .option(
        '--jwk-json-path <file>',
        "no public issuer: create the provider with the cluster's keys uploaded from this JWKS file (kubectl get --raw /openid/v1/jwks), and grant the sync job (idbridge sync --target wif-provider://…) roles/iam.workloadIdentityPoolAdmin on the pool",
      )
      .option('--json', 'the plan as JSON (commands as argument arrays)'),
  ).action((flags: GcpSetupFlags) => {
    const { json: _json, ...input } = flags;
    const plan = gcpSetupPlan(input);
    processIo().out(flags.json ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan));
  });
}
