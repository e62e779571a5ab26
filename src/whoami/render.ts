import { describeKubeIdentity } from './identity.js';
import type { WhoamiIdentity } from './whoami.js';

/** The answer in three lines, after the step-by-step report. */
export function renderIdentity(identity: WhoamiIdentity): string {
  const lines: string[] = [];
  if (identity.kubernetes)
    lines.push(
      `Kubernetes identity:  ${describeKubeIdentity(identity.kubernetes)} (${identity.kubernetes.subject ?? 'no sub'})`,
    );
  if (identity.principal) lines.push(`Federated principal:  ${identity.principal}`);
  if (identity.googleServiceAccount)
    lines.push(`Google identity:      ${identity.googleServiceAccount}`);
  else if (identity.principal)
    lines.push('Google identity:      the federated principal itself (no service account)');
  if (identity.accessTokenExpiresAt)
    lines.push(`Access token expires: ${identity.accessTokenExpiresAt}`);
  return lines.length > 0 ? `\n${lines.join('\n')}\n` : '';
}
