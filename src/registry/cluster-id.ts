import { z } from 'zod';

/** Path segments idbridge routes use (or may use) at the top level; no cluster may take them. */
export const RESERVED_CLUSTER_IDS: ReadonlySet<string> = new Set([
  'api',
  'v1',
  'v2',
  'healthz',
  'readyz',
  'livez',
  'metrics',
  'status',
  'admin',
  'static',
  'assets',
  'debug',
  'internal',
  'openid',
  'well-known',
  'computemetadata',
  'token',
  'mutate-v1-pod',
  'favicon',
  // The broker's AWS STS and Entra ID endpoints (/aws/sts/, /azure/{tenant}/…).
  'aws',
  'azure',
]);

/** RFC 1123 label: what Kubernetes namespaces and idbridge cluster ids are. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A cluster id: a DNS label (it becomes a URL path segment and a GCS object prefix). */
export const clusterIdSchema = z
  .string({ error: 'the cluster id must be a string' })
  .superRefine((value, ctx) => {
    if (!DNS_LABEL.test(value)) {
      const hint =
        value.toLowerCase() !== value && DNS_LABEL.test(value.toLowerCase())
          ? `; use ${JSON.stringify(value.toLowerCase())}`
          : '';
      ctx.addIssue({
        code: 'custom',
        message: `cluster id ${JSON.stringify(value.slice(0, 80))} is not a DNS label: 1-63 characters of a-z, 0-9 and "-", starting and ending with a letter or digit${hint}`,
      });
    } else if (RESERVED_CLUSTER_IDS.has(value)) {
      ctx.addIssue({
        code: 'custom',
        message: `cluster id ${JSON.stringify(value)} is reserved for idbridge's own routes; choose another name`,
      });
    }
  });

export type ClusterId = string;

export function isClusterId(value: string): boolean {
  return DNS_LABEL.test(value) && !RESERVED_CLUSTER_IDS.has(value);
}
