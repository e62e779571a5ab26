import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** What the benches read of a process from /proc: CPU time and memory. */

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds a process has used (user + system): unlike latency, not inflated by other load on the machine. */
export function cpuSeconds(pid: number): number {
  // The name in parentheses may hold spaces and ")": the fields are counted after its last ")".
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Memory of a process in MiB: RSS and its parts (/proc/PID/status), and USS/PSS (smaps_rollup). */
export interface ProcessMemory {
  rss: number;
  /** Anonymous pages: the heap and everything else that is the process's alone. */
  anon: number;
  /** File-backed pages: the node binary and the bundle, shared with every process mapping them. */
  file: number;
  /** Private pages (USS): what the machine gets back when this process exits. */
  private: number;
  /** Proportional set size: shared pages divided among the processes that map them. */
  pss: number;
}

export function processMemory(pid: number): ProcessMemory {
  const field = (text: string, name: string) =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) / 1024;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return {
    rss: field(status, 'VmRSS'),
    anon: field(status, 'RssAnon'),
    file: field(status, 'RssFile'),
    private: field(rollup, 'Private_Clean') + field(rollup, 'Private_Dirty'),
    pss: field(rollup, 'Pss'),
  };
}

/** RSS alone, in MiB. */
export function rssMiB(pid: number): number {
  return processMemory(pid).rss;
}
