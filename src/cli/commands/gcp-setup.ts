import type { Command } from 'commander';
import {
  gcpSetupPlan,
  RECOMMENDED_CONDITION,
  renderPlan,
  type GcpSetupInput,
} from '../../gcp-setup/plan.js';
import { IdbridgeError } from '../../errors.js';
import { fleetSetupPlan } from '../../gcp-setup/fleet-plan.js';
import { processIo, usageErrorsExit2 } from '../io.js';

type GcpSetupFlags = GcpSetupInput & { json?: boolean; fleet?: boolean; cluster?: string };

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
      .option(
        '--fleet',
        'fleet mode (docs/fleet.md): the one provider for every cluster, --issuer being the fleet issuer {PUBLIC_URL}/_fleet (provider id default idbridge-fleet)',
      )
      .option(
        '--cluster <id>',
        'with --fleet: grant to every ServiceAccount of this cluster (principalSet …/attribute.cluster/ID), or with --namespace and --kube-service-account to one of them',
      )
      .option('--json', 'the plan as JSON (commands as argument arrays)'),
  ).action((flags: GcpSetupFlags) => {
    const { json: _json, fleet, ...input } = flags;
    if (!fleet && input.cluster !== undefined)
      throw new IdbridgeError(
        'invalid_request',
        '--cluster names a cluster of the fleet provider: add --fleet (a cluster with its own provider is named by --issuer)',
      );
    const plan = fleet ? fleetSetupPlan(input) : gcpSetupPlan(input);
    processIo().out(flags.json ? `${JSON.stringify(plan, null, 2)}\n` : renderPlan(plan));
  });
}
