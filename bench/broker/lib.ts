// What the broker benches share: the bare forwarding proxy in its own process, and percentiles.
import { spawn } from 'node:child_process';

/** bare-proxy.mjs in its own process, forwarding to `upstream`. */
export async function startBareProxy(upstream: string) {
  const child = spawn(
    process.execPath,
    [new URL('./bare-proxy.mjs', import.meta.url).pathname, upstream],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the bare proxy exited (${code})`)));
  });
  return {
    url,
    close: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** p50 and p99 of `samples`, rounded to a microsecond of their millisecond unit. */
export function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1000) / 1000;
  return { p50: at(0.5), p99: at(0.99) };
}
