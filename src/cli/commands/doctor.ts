import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { AdminClient } from '../../admin-client/client.js';
import { parseProvider } from '../../credentials/credential-config.js';
import { DOCTOR_CLOUDS, type DoctorCloud } from '../../doctor/cloud-checks.js';
import { runDoctor } from '../../doctor/doctor.js';
import { resolveTarget } from '../../doctor/target.js';
import { IdbridgeError } from '../../errors.js';
import { renderChecks, renderJson } from '../../report/render.js';
import { walkMetadata } from '../../whoami/metadata-walk.js';
import { exitCode, type Check } from '../../report/report.js';
import { collect, parseSeconds, processIo, usageErrorsExit2 } from '../io.js';

interface DoctorFlags {
  issuer?: string;
  cluster?: string;
  api?: string;
  adminToken?: string;
  token?: string;
  provider?: string;
  allowedAudience?: string[];
  timeout: number;
  json?: boolean;
  metadata?: string;
  audience: string;
  cloud: DoctorCloud;
  wifProvider?: string;
  jwks?: string;
  kubeconfig?: string;
}

export function registerDoctor(program: Command): void {
  usageErrorsExit2(
    program
      .command('doctor')
      .description(
        'check an issuer as Google STS will (discovery, JWKS, keys, caching) and, with --token, a projected token against it; exit 0 pass, 1 warnings, 2 failures',
      )
      .option(
        '--issuer <url>',
        "the issuer URL exactly as given to Google's provider (--issuer-uri) and the kube-apiserver",
      )
      .option('--cluster <id>', 'check a cluster registered with idbridge (with --api)')
      .addOption(
        new Option(
          '--api <url>',
          'base URL of the idbridge server or registration API (with --cluster)',
        ).env('IDBRIDGE_API_URL'),
      )
      .addOption(
        new Option(
          '--admin-token <token>',
          "admin token, to read the cluster's registered issuer and keys (prefer the environment variable)",
        ).env('IDBRIDGE_ADMIN_TOKEN'),
      )
      .option(
        '--token <file>',
        'a projected ServiceAccount token to check: iss, kid, signature, lifetime, iat, aud',
      )
      .option(
        '--provider <name>',
        'workload identity provider (projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER) whose audience the token must carry',
      )
      .option(
        '--allowed-audience <aud>',
        "an audience the provider allows (repeatable); default: the provider's resource name",
        collect,
      )
      .addOption(
        new Option(
          '--cloud <cloud>',
          'whose rules: gcp (Google STS), aws (AWS STS: HTTPS, RS/ES 256/384/512, aud sts.amazonaws.com) or azure (Entra ID: exact issuer, sub system:serviceaccount:NS:NAME, aud api://AzureADTokenExchange); --allowed-audience overrides the audience',
        )
          .choices(DOCTOR_CLOUDS)
          .default('gcp'),
      )
      .option('--timeout <seconds>', 'per-request timeout', parseSeconds, 10)
      .option('--json', 'machine-readable output')
      .option(
        '--metadata <url>',
        'instead: check a metadata server (e.g. http://127.0.0.1:988) step by step as with curl',
      )
      .option(
        '--audience <aud>',
        'with --metadata: the audience of the ID token asked for',
        'https://example.com',
      )
      .option(
        '--wif-provider <name>',
        "instead: compare this provider's uploaded keys (oidc.jwksJson) with the cluster's live JWKS: missing, extra and stale keys (Application Default Credentials)",
      )
      .option(
        '--jwks <file>',
        "with --wif-provider: the cluster's JWKS (kubectl get --raw /openid/v1/jwks); default: read from the kube-apiserver",
      )
      .option(
        '--kubeconfig <path>',
        'with --wif-provider: how to reach the kube-apiserver (env KUBECONFIG; default: in-cluster)',
      ),
  ).action(async (flags: DoctorFlags) => {
    process.exitCode = await doctorAction(flags);
  });
}

async function doctorAction(flags: DoctorFlags): Promise<number> {
  const io = processIo();
  if (flags.wifProvider !== undefined) {
    const { uploadedKeysAction } = await import('./doctor-uploaded-keys.js');
    return uploadedKeysAction({ ...flags, wifProvider: flags.wifProvider }, process.env, io);
  }
  if (flags.metadata !== undefined) {
    const walked = await walkMetadata(flags.metadata, flags.audience, {
      fetch,
      timeoutMs: flags.timeout * 1000,
      clock: () => performance.now(),
    });
    io.out(
      flags.json
        ? renderJson(walked.checks, { metadata: flags.metadata })
        : renderChecks(`idbridge doctor: metadata server ${flags.metadata}`, walked.checks, {
            colour: io.colour,
          }),
    );
    return exitCode(walked.checks);
  }
  const provider = flags.provider !== undefined ? parseProvider(flags.provider) : undefined;
  let token: string | undefined;
  if (flags.token !== undefined) {
    try {
      token = await readFile(flags.token, 'utf8');
    } catch (err) {
      throw new IdbridgeError(
        'invalid_request',
        `cannot read --token ${flags.token}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  const timeoutMs = flags.timeout * 1000;
  const target = await resolveTarget(
    flags,
    (api, adminToken) => new AdminClient({ api, token: adminToken, timeoutMs }),
  );
  const checks: Check[] = [
    ...target.checks,
    ...(await runDoctor(
      {
        issuer: target.issuer,
        ...(token !== undefined ? { token } : {}),
        ...(provider ? { provider } : {}),
        ...(flags.allowedAudience ? { allowedAudiences: flags.allowedAudience } : {}),
        ...(target.registeredKids ? { registeredKids: target.registeredKids } : {}),
        ...(target.withheldKeys ? { withheldKeys: target.withheldKeys } : {}),
        cloud: flags.cloud,
      },
      { fetch, timeoutMs, clock: () => performance.now(), now: Date.now },
    )),
  ];
  io.out(
    flags.json
      ? renderJson(checks, { issuer: target.issuer })
      : renderChecks(`idbridge doctor: issuer ${target.issuer}`, checks, { colour: io.colour }),
  );
  return exitCode(checks);
}
