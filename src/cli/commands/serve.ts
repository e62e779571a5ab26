import type { Command } from 'commander';
import { usageErrorsExit2 } from '../io.js';
import { runServe } from '../../hosts/node/serve.js';

export function registerServe(program: Command): void {
  usageErrorsExit2(
    program
      .command('serve')
      .description(
        'run the issuer and registration API (and broker) in one process on a local store',
      )
      .option('--port <port>', 'listen port (env PORT, default 8787)')
      .option('--host <address>', 'listen address (env HOST, default 127.0.0.1)')
      .option(
        '--store <location>',
        'file:DIR, memory: or gcs://BUCKET/PREFIX (env IDBRIDGE_STORE, default file:./data)',
      )
      .option(
        '--public-url <url>',
        'external base URL of the issuer (env IDBRIDGE_PUBLIC_URL; default http(s)://127.0.0.1:PORT)',
      )
      .option(
        '--tls <mode>',
        '"local": HTTPS with a local CA and loopback certificate kept in the data dir (env IDBRIDGE_TLS)',
      )
      .option(
        '--tls-cert-file <path>',
        'HTTPS serving certificate, PEM (env IDBRIDGE_TLS_CERT_FILE)',
      )
      .option('--tls-key-file <path>', 'HTTPS serving key, PEM (env IDBRIDGE_TLS_KEY_FILE)')
      .option(
        '--broker-relay <which>',
        'bearers relayed to IAM Credentials and introspection: issued (by this broker) or any (env IDBRIDGE_BROKER_RELAY, default issued)',
      ),
  ).action(async (flags) => {
    process.exitCode = await runServe(process.env, flags);
  });
}
