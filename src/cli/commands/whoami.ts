import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { renderChecks, renderJson } from '../../report/render.js';
import { exitCode } from '../../report/report.js';
import { walkMetadata } from '../../whoami/metadata-walk.js';
import { renderIdentity } from '../../whoami/render.js';
import { CLOUD_PLATFORM_SCOPE, whoami } from '../../whoami/whoami.js';
import { collect, parseSeconds, processIo, usageErrorsExit2 } from '../io.js';

interface WhoamiFlags {
  credentials?: string;
  scope?: string[];
  timeout: number;
  json?: boolean;
  metadata?: string;
  audience: string;
}

export function registerWhoami(program: Command): void {
  usageErrorsExit2(
    program
      .command('whoami')
      .description(
        'inside a pod: which Google identity this pod gets, step by step, and why not; exit 0 ok, 1 warnings, 2 failed',
      )
      .addOption(
        new Option('--credentials <file>', 'the external_account credential configuration').env(
          'GOOGLE_APPLICATION_CREDENTIALS',
        ),
      )
      .option(
        '--scope <scope>',
        `OAuth scope to request (repeatable; default ${CLOUD_PLATFORM_SCOPE})`,
        collect,
      )
      .option('--timeout <seconds>', 'per-request timeout', parseSeconds, 10)
      .option('--json', 'machine-readable output (never contains tokens)')
      .option(
        '--metadata <url>',
        "instead: walk a metadata server's answers (e.g. http://$GCE_METADATA_HOST) as with curl",
      )
      .option(
        '--audience <aud>',
        'with --metadata: the audience of the ID token asked for',
        'https://example.com',
      ),
  ).action(async (flags: WhoamiFlags) => {
    const io = processIo();
    if (flags.metadata !== undefined) {
      const walked = await walkMetadata(flags.metadata, flags.audience, {
        fetch,
        timeoutMs: flags.timeout * 1000,
        clock: () => performance.now(),
      });
      const identity = {
        ...(walked.email ? { googleServiceAccount: walked.email } : {}),
        ...(walked.accessTokenExpiresInSeconds !== undefined
          ? {
              accessTokenExpiresAt: new Date(
                Date.now() + walked.accessTokenExpiresInSeconds * 1000,
              ).toISOString(),
            }
          : {}),
      };
      io.out(
        flags.json
          ? renderJson(walked.checks, { identity })
          : renderChecks(`idbridge whoami: metadata server ${flags.metadata}`, walked.checks, {
              colour: io.colour,
            }) + renderIdentity(identity),
      );
      process.exitCode = exitCode(walked.checks);
      return;
    }
    const result = await whoami(
      {
        ...(flags.credentials ? { credentialsPath: flags.credentials } : {}),
        ...(flags.scope ? { scopes: flags.scope } : {}),
      },
      {
        readFile: (path) => readFile(path, 'utf8'),
        fetch,
        timeoutMs: flags.timeout * 1000,
        clock: () => performance.now(),
        now: Date.now,
      },
    );
    io.out(
      flags.json
        ? renderJson(result.checks, { identity: result.identity })
        : renderChecks('idbridge whoami', result.checks, { colour: io.colour }) +
            renderIdentity(result.identity),
    );
    process.exitCode = exitCode(result.checks);
  });
}
