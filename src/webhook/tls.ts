import { createHash, X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { IdbridgeError } from '../errors.js';
import type { Logger } from '../log/logger.js';

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 of certificate and key together: unchanged files are not reloaded. */
  digest: string;
  notAfter: string;
  subject: string;
}

/** Reads a certificate and key and checks they form a usable pair (Node refuses a mismatch). */
export async function loadTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  let cert: Buffer;
  let key: Buffer;
  try {
    [cert, key] = await Promise.all([readFile(files.certFile), readFile(files.keyFile)]);
  } catch (err) {
    throw new IdbridgeError(
      'invalid_request',
      `cannot read the serving certificate or key (${(err as NodeJS.ErrnoException).code ?? 'error'}: ${(err as NodeJS.ErrnoException).path ?? ''}); check --tls-cert-file and --tls-key-file`,
    );
  }
  let parsed: X509Certificate;
  try {
    parsed = new X509Certificate(cert);
    createSecureContext({ cert, key });
  } catch (err) {
    // Node's messages name the problem ("key values mismatch", "bad base64 decode"), never key bytes.
    throw new IdbridgeError(
      'invalid_request',
      `${files.certFile} and ${files.keyFile} are not a usable certificate and key: ${(err as Error).message}`,
    );
  }
  const digest = createHash('sha256').update(cert).update('\0').update(key).digest('hex');
  return {
    cert,
    key,
    digest,
    notAfter: parsed.validTo,
    subject: parsed.subject.replace(/\n/g, ', '),
  };
}

export function secureContextOptions(
  material: TlsMaterial,
  minVersion: TlsMinVersion,
): SecureContextOptions {
  return { cert: material.cert, key: material.key, minVersion };
}

export interface CertificateReloaderOptions {
  files: TlsFiles;
  current: TlsMaterial;
  /** Installs a new pair (https.Server#setSecureContext). */
  apply: (material: TlsMaterial) => void;
  logger: Logger;
  /** Periodic re-read, whatever file events say (events are unreliable on some volumes). */
  intervalMs: number;
  onResult?: (result: 'reloaded' | 'failed') => void;
}

/**
 * Reloads the serving certificate when its files change, as cert-manager rotates a Secret:
 * Kubernetes swaps a symlinked directory, seen as directory events, and a periodic re-read
 * catches what events miss. A half-written or mismatched pair is refused and the current one
 * kept, so a rotation in progress never breaks the server.
 */
export class CertificateReloader {
  private current: TlsMaterial;
  private watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(private readonly options: CertificateReloaderOptions) {
    this.current = options.current;
  }

  start(): void {
    for (const dir of new Set([
      dirname(this.options.files.certFile),
      dirname(this.options.files.keyFile),
    ])) {
      try {
        const watcher = watch(dir, () => this.soon());
        watcher.on('error', () => {});
        this.watchers.push(watcher);
      } catch {
        // No events on this filesystem: the periodic check still runs.
      }
    }
    this.timer = setInterval(() => void this.check(), this.options.intervalMs);
    this.timer.unref();
  }

  /** Files are written one after the other: wait for the burst to settle. */
  private soon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.check(), 100);
    this.debounce.unref();
  }

  /** Re-reads the files; applies them if they changed and form a valid pair. */
  check(): Promise<void> {
    this.checking ??= this.reload().finally(() => {
      this.checking = undefined;
    });
    return this.checking;
  }

  private async reload(): Promise<void> {
    let next: TlsMaterial;
    try {
      next = await loadTlsMaterial(this.options.files);
    } catch (err) {
      this.options.logger.warn('serving certificate not reloaded; keeping the current one', {
        error: (err as Error).message,
      });
      this.options.onResult?.('failed');
      return;
    }
    if (next.digest === this.current.digest) return;
    this.options.apply(next);
    this.current = next;
    this.options.logger.info('serving certificate reloaded', {
      subject: next.subject,
      notAfter: next.notAfter,
    });
    this.options.onResult?.('reloaded');
  }

  close(): void {
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    for (const watcher of this.watchers) watcher.close();
    this.watchers = [];
  }
}
