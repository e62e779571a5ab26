import { secretTransportProblem, transportOf } from '../../net/loopback.js';
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { AdminClient } from '../../admin-client/client.js';
import {
  renderCluster,
  renderClusterTable,
  renderCreated,
  renderKeysReplaced,
} from '../../admin-client/render.js';
import { createClusterSchema, updateClusterSchema } from '../../api/schemas.js';
import { IdbridgeError } from '../../errors.js';
import { describeIssues, zodDetails } from '../../errors/zod.js';
import { parseSeconds, processIo, usageErrorsExit2 } from '../io.js';

interface AdminFlags {
  api: string;
  adminToken?: string;
  json?: boolean;
  timeout: number;
}

/** The flags every `clusters` subcommand shares. The admin token is read, never printed. */
function adminCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .addOption(
      new Option('--api <url>', 'base URL of idbridge serve or the registration API')
        .env('IDBRIDGE_API_URL')
        .default('http://127.0.0.1:8787'),
    )
    .addOption(
      new Option(
        '--admin-token <token>',
        'admin bearer token (prefer the environment variable: flags show up in ps and shell history)',
      ).env('IDBRIDGE_ADMIN_TOKEN'),
    )
    .option('--timeout <seconds>', 'request timeout', parseSeconds, 15)
    .option('--json', "print the API's JSON instead of tables");
}

function client(flags: AdminFlags): AdminClient {
  if (!flags.adminToken) {
    throw new IdbridgeError(
      'unauthenticated',
      'no admin token: set IDBRIDGE_ADMIN_TOKEN (idbridge serve printed it on first start and keeps it in DATA_DIR/admin-token) or pass --admin-token',
    );
  }
  const transport = transportOf(flags.api);
  if (transport.kind === 'invalid')
    throw new IdbridgeError(
      'invalid_request',
      `--api: ${transport.reason}; give the base URL of idbridge serve or the registration API, e.g. https://127.0.0.1:8787`,
    );
  const insecure = secretTransportProblem('--api', flags.api);
  if (insecure) throw new IdbridgeError('invalid_request', insecure);
  return new AdminClient({
    api: flags.api,
    token: flags.adminToken,
    timeoutMs: flags.timeout * 1000,
  });
}

async function readJsonFile(flag: string, path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new IdbridgeError(
      'invalid_request',
      `${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new IdbridgeError(
      'invalid_request',
      `${flag}: ${path} is not JSON${flag === '--jwks' ? ' (save it with kubectl get --raw /openid/v1/jwks > FILE)' : ''}`,
    );
  }
}

/** Checks a request with the API's own schema before sending it: same rules, earlier answer. */
function validated<T>(
  schema: {
    safeParse(
      value: unknown,
    ):
      | { success: true; data: T }
      | { success: false; error: { issues: Array<{ path: PropertyKey[]; message: string }> } };
  },
  value: unknown,
): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new IdbridgeError(
      'invalid_request',
      describeIssues(zodDetails(parsed.error, { root: 'request' })),
    );
  }
  return parsed.data;
}

function parseVersion(value: string): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1)
    throw new IdbridgeError(
      'invalid_request',
      `--if-version must be a version number from clusters get, not ${JSON.stringify(value)}`,
    );
  return Number(value);
}

export function registerClusters(program: Command): void {
  const io = processIo();
  const clusters = usageErrorsExit2(
    program.command('clusters').description('manage clusters through the registration API (admin)'),
  );

  adminCommand(
    clusters,
    'create',
    'register a cluster; prints the kube-apiserver flags to set and the next steps',
  )
    .argument('<id>', 'cluster id: a DNS label, part of the issuer URL')
    .option(
      '--jwks <file>',
      "the cluster's current keys (kubectl get --raw /openid/v1/jwks > FILE)",
    )
    .option(
      '--sync-subject <subject>',
      "ServiceAccount of the cluster's sync job (system:serviceaccount:NS:NAME)",
    )
    .option('--broker-policy <file>', 'JSON broker policy: {"audiences","subjects","providers"}')
    .addOption(modeOption())
    .action(
      async (
        id: string,
        flags: AdminFlags & {
          jwks?: string;
          syncSubject?: string;
          brokerPolicy?: string;
          mode?: string;
        },
      ) => {
        const request = validated(createClusterSchema, {
          id,
          ...(flags.mode !== undefined ? { mode: flags.mode } : {}),
          ...(flags.syncSubject !== undefined ? { syncSubject: flags.syncSubject } : {}),
          ...(flags.jwks !== undefined ? { jwks: await readJsonFile('--jwks', flags.jwks) } : {}),
          ...(flags.brokerPolicy !== undefined
            ? { broker: await readJsonFile('--broker-policy', flags.brokerPolicy) }
            : {}),
        });
        const api = client(flags);
        const response = await api.create(request);
        io.out(
          flags.json
            ? `${JSON.stringify(response, null, 2)}\n`
            : renderCreated(response, [
                `Check what Google will see: idbridge doctor --cluster ${response.cluster.id} --api ${api.api}`,
                `Print the Google Cloud setup: idbridge gcp-setup --issuer ${response.cluster.issuer} --project-number NUMBER --service-account NAME@PROJECT.iam.gserviceaccount.com --namespace NS --kube-service-account KSA`,
              ]),
        );
      },
    );

  adminCommand(clusters, 'list', 'list registered clusters').action(async (flags: AdminFlags) => {
    const all = await client(flags).list();
    io.out(
      flags.json ? `${JSON.stringify({ clusters: all }, null, 2)}\n` : renderClusterTable(all),
    );
  });

  adminCommand(clusters, 'get', 'show one cluster: issuer, keys, recent key changes')
    .argument('<id>', 'cluster id')
    .action(async (id: string, flags: AdminFlags) => {
      const cluster = await client(flags).get(id);
      io.out(flags.json ? `${JSON.stringify({ cluster }, null, 2)}\n` : renderCluster(cluster));
    });

  adminCommand(
    clusters,
    'update',
    "change a cluster's sync subject or broker policy, or replace its keys (--jwks)",
  )
    .argument('<id>', 'cluster id')
    .option(
      '--sync-subject <subject>',
      "ServiceAccount of the cluster's sync job (system:serviceaccount:NS:NAME)",
    )
    .option('--broker-policy <file>', 'JSON broker policy replacing the current one')
    .option('--clear-broker-policy', 'remove the broker policy (back to defaults)')
    .addOption(modeOption())
    .option(
      '--jwks <file>',
      'replace the published keys (admin upload before the first sync, or break-glass)',
    )
    .option(
      '--discovery <file>',
      "with --jwks: the cluster's discovery document, checked against the registered issuer",
    )
    .option('--if-version <n>', 'only if the cluster is still at this version (from clusters get)')
    .action(
      async (
        id: string,
        flags: AdminFlags & {
          syncSubject?: string;
          brokerPolicy?: string;
          clearBrokerPolicy?: boolean;
          jwks?: string;
          discovery?: string;
          ifVersion?: string;
          mode?: string;
        },
      ) => {
        if (flags.brokerPolicy !== undefined && flags.clearBrokerPolicy)
          throw new IdbridgeError(
            'invalid_request',
            'give --broker-policy or --clear-broker-policy, not both',
          );
        if (flags.discovery !== undefined && flags.jwks === undefined)
          throw new IdbridgeError('invalid_request', '--discovery goes with --jwks');
        const changes = validated(updateClusterSchema, {
          ...(flags.syncSubject !== undefined ? { syncSubject: flags.syncSubject } : {}),
          ...(flags.brokerPolicy !== undefined
            ? { broker: await readJsonFile('--broker-policy', flags.brokerPolicy) }
            : {}),
          ...(flags.clearBrokerPolicy ? { broker: null } : {}),
          ...(flags.mode !== undefined ? { mode: flags.mode } : {}),
        });
        if (Object.keys(changes).length === 0 && flags.jwks === undefined) {
          throw new IdbridgeError(
            'invalid_request',
            'nothing to update: give --sync-subject, --broker-policy, --clear-broker-policy, --mode or --jwks',
          );
        }
        const api = client(flags);
        let version = flags.ifVersion !== undefined ? parseVersion(flags.ifVersion) : undefined;
        const out: Record<string, unknown> = {};
        let text = '';
        if (Object.keys(changes).length > 0) {
          const cluster = await api.update(id, changes, version);
          out.cluster = cluster;
          text += `Updated cluster ${cluster.id} (version ${cluster.version}).\n`;
          if (version !== undefined) version = cluster.version;
        }
        if (flags.jwks !== undefined) {
          const documents = {
            jwks: await readJsonFile('--jwks', flags.jwks),
            ...(flags.discovery !== undefined
              ? { discovery: await readJsonFile('--discovery', flags.discovery) }
              : {}),
          };
          const keys = await api.putKeys(id, documents, version);
          Object.assign(out, {
            cluster: keys.cluster,
            keys: {
              added: keys.added,
              removed: keys.removed,
              changed: keys.changed,
              warnings: keys.warnings,
            },
          });
          text += renderKeysReplaced(keys);
        }
        io.out(flags.json ? `${JSON.stringify(out, null, 2)}\n` : text);
      },
    );

  for (const [name, lift] of [
    ['revoke', false],
    ['unrevoke', true],
  ] as const) {
    adminCommand(
      clusters,
      name,
      lift
        ? 'fleet kill switch: lift the revocation of a cluster, or of the --subject given'
        : 'fleet kill switch: stop fleet minting for a cluster at once, or only for the --subject given (docs/fleet.md)',
    )
      .argument('<id>', 'cluster id')
      .option(
        '--subject <subject>',
        'only this ServiceAccount (system:serviceaccount:NS:NAME); repeat for more',
        (value: string, previous: string[] = []) => [...previous, value],
      )
      .action(async (id: string, flags: AdminFlags & { subject?: string[] }) => {
        const api = client(flags);
        // Read, change, write under If-Match: a concurrent change is refused, never lost.
        const current = await api.get(id);
        const fleet = revocation(current.fleet ?? {}, flags.subject, lift);
        const changes = validated(updateClusterSchema, { fleet });
        const cluster = await api.update(id, changes, current.version);
        io.out(
          flags.json
            ? `${JSON.stringify({ cluster }, null, 2)}\n`
            : `${describeRevocation(cluster.id, cluster.fleet)}\n`,
        );
      });
  }

  adminCommand(
    clusters,
    'delete',
    'delete a cluster: its issuer documents stop being served, so its tokens stop working with Google',
  )
    .argument('<id>', 'cluster id')
    .option('--if-version <n>', 'only if the cluster is still at this version (from clusters get)')
    .action(async (id: string, flags: AdminFlags & { ifVersion?: string }) => {
      await client(flags).delete(
        id,
        flags.ifVersion !== undefined ? parseVersion(flags.ifVersion) : undefined,
      );
      io.out(
        flags.json
          ? `${JSON.stringify({ deleted: id })}\n`
          : `Deleted cluster ${id}; its issuer documents are no longer served.\n`,
      );
    });
}

function modeOption(): Option {
  return new Option(
    '--mode <mode>',
    'how Google trusts the cluster: provider (its own provider, the default), jwks-upload or fleet (docs/fleet.md)',
  ).choices(['provider', 'jwks-upload', 'fleet']);
}

type Revocation = { revoked?: boolean; revokedSubjects?: string[] };

/** The cluster's fleet revocation after revoking or lifting the cluster, or the subjects given. */
function revocation(
  current: Revocation,
  subjects: string[] | undefined,
  lift: boolean,
): Revocation | null {
  let next: Revocation;
  if (!subjects) next = lift ? {} : { ...current, revoked: true };
  else {
    const listed = new Set(current.revokedSubjects ?? []);
    for (const subject of subjects) {
      if (lift) listed.delete(subject);
      else listed.add(subject);
    }
    next = { ...current, revokedSubjects: [...listed] };
  }
  if (next.revoked === false || (lift && !subjects)) delete next.revoked;
  if (next.revokedSubjects?.length === 0) delete next.revokedSubjects;
  return Object.keys(next).length === 0 ? null : next;
}

function describeRevocation(id: string, fleet: Revocation | undefined): string {
  if (!fleet) return `Cluster ${id}: nothing is revoked from fleet minting.`;
  const parts = [...(fleet.revoked ? ['the whole cluster'] : []), ...(fleet.revokedSubjects ?? [])];
  return `Cluster ${id}: revoked from fleet minting: ${parts.join(', ')}. Cached answers are no longer served.`;
}
