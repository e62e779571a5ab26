import { randomBytes } from 'node:crypto';
import { readFile, readlink } from 'node:fs/promises';

/**
 * Who left a lock or a temporary file in a file store's directory, and whether that process
 * still runs. A pid alone is not an identity: pids are reused, and a container's PID 1 restarts
 * as PID 1. So an owner also carries its process start time and PID namespace (Linux /proc) and
 * a random token drawn once per process, which no later process shares.
 */
export interface Owner {
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/PID/stat field 22); 'x' if unknown. */
  start: string;
  /** The PID namespace's inode (/proc/self/ns/pid); 'x' if unknown. */
  ns: string;
  /** Random, once per process; 'legacy' for the pid-only names of earlier versions. */
  token: string;
}

/** The owner part of a name: `PID-START-NS-TOKEN`. */
export function ownerTag(owner: Owner): string {
  return `${owner.pid}-${owner.start}-${owner.ns}-${owner.token}`;
}

const TAG = /(?:^|\.)(\d{1,10})-(\d{1,20}|x)-(\d{1,20}|x)-([0-9a-f]{16})\.[0-9a-f]{12}(?:\.tmp)?$/;
/** Names written by earlier versions: `ID.json.PID.HEX.tmp` and `ID.json.lock.PID.HEX.tmp`. */
const LEGACY_TAG = /\.json(?:\.lock)?\.(\d{1,10})\.[0-9a-f]{8,12}\.tmp$/;

/** The owner a name carries (see ownerTag), or null when it carries none. */
export function ownerOfName(name: string): Owner | null {
  const tagged = TAG.exec(name);
  if (tagged)
    return { pid: Number(tagged[1]), start: tagged[2]!, ns: tagged[3]!, token: tagged[4]! };
  const legacy = LEGACY_TAG.exec(name);
  return legacy ? legacyOwner(Number(legacy[1])) : null;
}

/** The owner of a lock file of an earlier version, which held only `PID\n`. */
export function ownerOfLegacyLock(text: string): Owner | null {
  const match = /^(\d{1,10})\s*$/.exec(text);
  return match ? legacyOwner(Number(match[1])) : null;
}

function legacyOwner(pid: number): Owner {
  return { pid, start: 'x', ns: 'x', token: 'legacy' };
}

let self: Promise<Owner> | undefined;

/** This process as an owner (computed once). */
export function currentOwner(): Promise<Owner> {
  self ??= (async () => ({
    pid: process.pid,
    start: (await processStart(process.pid)) ?? 'x',
    ns: await readlink('/proc/self/ns/pid').then(
      (link) => /\[(\d+)\]/.exec(link)?.[1] ?? 'x',
      () => 'x',
    ),
    token: randomBytes(8).toString('hex'),
  }))();
  return self;
}

/** A fresh suffix so no two names of one owner collide. */
export function nonce(): string {
  return randomBytes(6).toString('hex');
}

/**
 * 'dead': the owner cannot be running any more (its pid is gone or a zombie, or belongs to a
 * later process); 'alive': it is running; 'unknown': this host cannot tell (another PID
 * namespace, or no /proc), and only the entry's age can.
 */
export type OwnerState = 'alive' | 'dead' | 'unknown';

export async function ownerState(owner: Owner, me: Owner): Promise<OwnerState> {
  const sameNamespace = owner.ns === me.ns || owner.ns === 'x' || me.ns === 'x';
  if (!sameNamespace) return 'unknown';
  // Our own pid: a lock of ours, or one of a predecessor that ran with our pid (never a legacy one).
  if (owner.pid === me.pid) return owner.token === me.token ? 'alive' : 'dead';
  if (owner.pid <= 0) return 'dead';
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return 'dead';
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return 'unknown';
  }
  const stat = await readProcStat(owner.pid);
  if (stat === null) return 'unknown';
  if (stat.state === 'Z' || stat.state === 'X') return 'dead'; // killed, not yet reaped: never runs again
  if (owner.start === 'x') return 'unknown';
  return stat.start === owner.start ? 'alive' : 'dead';
}

async function processStart(pid: number): Promise<string | null> {
  return (await readProcStat(pid))?.start ?? null;
}

/** State and start time from /proc/PID/stat (the command name may hold spaces and parentheses). */
async function readProcStat(pid: number): Promise<{ state: string; start: string } | null> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (text === null) return null;
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const [state, start] = [fields[0], fields[19]];
  return state && start && /^\d+$/.test(start) ? { state, start } : null;
}
