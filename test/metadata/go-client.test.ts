import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/serve.js';
import {
  GSA,
  startMetadataWorld,
  type MetadataWorld,
  type SpawnedMetadataServer,
} from './world.js';

/**
 * A real Go client as judge: test/support/go-metadata-client, built against Debian's
 * cloud.google.com/go/compute/metadata (and golang.org/x/oauth2/google when installed) in GOPATH
 * mode, finds the sidecar through GCE_METADATA_HOST alone, with no credential file.
 */
const run = promisify(execFile);

const GOPATH = '/usr/share/gocode';
const METADATA_PACKAGE = join(GOPATH, 'src/cloud.google.com/go/compute/metadata/metadata.go');
const OAUTH2_PACKAGE = join(GOPATH, 'src/golang.org/x/oauth2/google/google.go');
const SOURCE = join(REPO_ROOT, 'test/support/go-metadata-client');
const AUDIENCE = 'https://svc.example.com';

/** Why the Go client cannot be built here, or undefined when it can (checked once, for skipIf). */
function goUnavailable(): string | undefined {
  try {
    execFileSync('go', ['version'], { stdio: 'pipe', timeout: 20_000 });
  } catch {
    return 'no go command on PATH (Debian: apt-get install golang-go; bash .ci/run installs it)';
  }
  if (!existsSync(METADATA_PACKAGE)) {
    return `cloud.google.com/go/compute/metadata is not under ${GOPATH}/src (Debian: apt-get install golang-google-cloud-compute-metadata-dev; bash .ci/run installs it)`;
  }
  return undefined;
}
const skipReason = goUnavailable();
if (skipReason) console.warn(`Go metadata client tests skipped: ${skipReason}`);
const withOauth2 = existsSync(OAUTH2_PACKAGE);

/** One library call's outcome, as main.go prints it. */
interface Call {
  value?: unknown;
  error?: string;
}
type Answers = Record<string, Call | undefined>;

interface OAuth2Token {
  accessToken: string;
  tokenType: string;
  valid: boolean;
}

describe.skipIf(skipReason !== undefined)(
  `Go cloud.google.com/go/compute/metadata against the sidecar${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let world: MetadataWorld;
    let server: SpawnedMetadataServer;
    let answers: Answers;

    beforeAll(async () => {
      world = await startMetadataWorld();
      // Go's build cache and work files stay in the world's temporary directory, never in $HOME
      // or the repo; GOPATH mode resolves the imports from Debian's packages only.
      const goDir = join(world.dir, 'go');
      await mkdir(join(goDir, 'tmp'), { recursive: true });
      const binary = join(goDir, 'go-metadata-client');
      await run('go', ['build', ...(withOauth2 ? ['-tags', 'oauth2'] : []), '-o', binary, '.'], {
        // GOPATH mode refuses an absolute package path: build the directory from inside it.
        cwd: SOURCE,
        timeout: 540_000,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: goDir,
          GOENV: 'off',
          GOPATH,
          GO111MODULE: 'off',
          GOFLAGS: '',
          GOCACHE: join(goDir, 'cache'),
          GOTMPDIR: join(goDir, 'tmp'),
          TMPDIR: join(goDir, 'tmp'),
          CGO_ENABLED: '0',
        },
      });
      server = await world.sidecar('web', { gsa: GSA });
      // A pod container's environment: the variable the webhook sets, an empty HOME (so no
      // gcloud application-default file), no GOOGLE_APPLICATION_CREDENTIALS.
      const home = await mkdtemp(join(world.dir, 'home-'));
      const { stdout } = await run(binary, [], {
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          GCE_METADATA_HOST: server.hostPort,
          ID_TOKEN_AUDIENCE: AUDIENCE,
        },
      });
      answers = JSON.parse(stdout) as Answers;
    }, 600_000);
    afterAll(() => world?.close());

    it('OnGCE, ProjectID, NumericProjectID (digits), Email("default") and Scopes("default") answer', () => {
      expect(answers.onGCE).toEqual({ value: true });
      expect(answers.projectID).toEqual({ value: 'proj-abc12' });
      expect(answers.numericProjectID?.value).toMatch(/^\d+$/);
      expect(answers.numericProjectID).toEqual({ value: '123456' });
      expect(answers.email).toEqual({ value: GSA });
      expect(answers.scopes?.error).toBeUndefined();
      expect(answers.scopes?.value).toContain('https://www.googleapis.com/auth/cloud-platform');
    });

    it('Get(".../default/token") is the access token the fake Google issued for the service account', () => {
      expect(answers.token?.error).toBeUndefined();
      const token = JSON.parse(answers.token!.value as string) as {
        access_token: string;
        expires_in: number;
        token_type: string;
      };
      expect(token.access_token).toMatch(/^ya29\.sa\./);
      expect(world.google.principalOf(token.access_token)).toBe(`serviceAccount:${GSA}`);
      expect(token.token_type).toBe('Bearer');
      expect(token.expires_in).toBeGreaterThan(0);
      expect(server.stdout()).not.toContain(token.access_token);
    });

    it('Get(".../default/identity?audience=X&format=full") is an ID token signed by the fake Google', async () => {
      expect(answers.identity?.error).toBeUndefined();
      const jwks = createLocalJWKSet(
        (await world.google.idTokenJwks()) as Parameters<typeof createLocalJWKSet>[0],
      );
      const { payload } = await jwtVerify(answers.identity!.value as string, jwks, {
        audience: AUDIENCE,
      });
      expect(payload.email).toBe(GSA);
    });

    it("an account that is not the pod's is metadata.NotDefinedError (404)", () => {
      expect(answers.unknownAccount?.value).toBeUndefined();
      expect(answers.unknownAccount?.error).toMatch(/^metadata\.NotDefinedError: /);
    });

    it.skipIf(!withOauth2)(
      `golang.org/x/oauth2/google: ComputeTokenSource("") and FindDefaultCredentials with no credential file${withOauth2 ? '' : ' (skipped: golang-golang-x-oauth2-google-dev is not installed)'}`,
      () => {
        for (const name of ['computeTokenSource', 'defaultCredentials']) {
          expect(answers[name]?.error, name).toBeUndefined();
          const token = answers[name]!.value as OAuth2Token;
          expect(token.tokenType, name).toBe('Bearer');
          expect(token.valid, name).toBe(true);
          expect(world.google.principalOf(token.accessToken), name).toBe(`serviceAccount:${GSA}`);
        }
        expect(answers.defaultCredentialsProjectID).toEqual({ value: 'proj-abc12' });
      },
    );
  },
);
