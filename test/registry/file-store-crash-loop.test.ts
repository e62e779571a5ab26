import type { ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FileStore } from '../../src/registry/file-store.js';
import { DIST, nodeSnippet, seededFileStore } from './store-processes.js';

/**
 * A writer process: four concurrent compare-and-swap loops on one record, each write with content
 * of its own, printing `ack VERSION SUBJECT` once the store acknowledged it (stdout on a pipe is
 * synchronous on Linux, so a printed ack is in the pipe before the next write starts).
 */
const WRITER = `
  import { FileStore } from '${DIST}/file-store.js';
  const [dir, name] = process.argv.slice(1);
  const store = await FileStore.open(dir);
  process.stdout.write('ready\\n');
  let n = 0;
  async function lane(l) {
    for (;;) {
      const current = await store.get('crash');
      const version = current.record.version + 1;
      const syncSubject = 'system:serviceaccount:' + name + ':l' + l + '-' + n++;
      try {
        await store.put({ ...current.record, version, syncSubject }, current.revision);
        process.stdout.write('ack ' + version + ' ' + syncSubject + '\\n');
      } catch (err) {
        if (err.code !== 'conflict') { process.stderr.write(String(err.stack) + '\\n'); process.exit(2); }
      }
    }
  }
  for (let l = 0; l < 4; l++) void lane(l);
`;

interface Writer {
  child: ChildProcess;
  acks: string[];
  ready: Promise<void>;
  exited: Promise<number | null>;
  stderr(): string;
}

function startWriter(dir: string, name: string, onAck: () => void): Writer {
  const child = nodeSnippet(WRITER, [dir, name]);
  const acks: string[] = [];
  let stderr = '';
  let buffered = '';
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!; // a line cut by the kill is not an acknowledgement
    for (const line of lines) {
      if (line === 'ready') markReady();
      else if (line.startsWith('ack ')) {
        acks.push(line.slice(4));
        onAck();
      }
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  return { child, acks, ready, exited, stderr: () => stderr };
}

describe('file store under kill -9 during write bursts (several processes)', () => {
  it('never acknowledges a version twice, keeps every acknowledged write, and a start leaves no leftovers', async () => {
    const { dir } = await seededFileStore('crash', 'system:serviceaccount:seed:s');

    const acknowledged = new Map<number, string[]>();
    const collect = (writer: Writer) => {
      for (const ack of writer.acks) {
        const [version, subject] = ack.split(' ');
        acknowledged.set(Number(version), [...(acknowledged.get(Number(version)) ?? []), subject!]);
      }
    };
    const kill = async (writer: Writer) => {
      writer.child.kill('SIGKILL');
      expect(await writer.exited, `a writer died on its own: ${writer.stderr()}`).toBeNull();
      collect(writer);
    };
    // Rolling kills: the others keep writing, and a restarted writer's start runs while they do.
    let acks = 0;
    let wake: (() => void) | undefined;
    const onAck = () => {
      acks++;
      wake?.();
    };
    const untilAcks = (count: number) =>
      new Promise<void>((resolve) => {
        const target = acks + count;
        wake = () => {
          if (acks >= target) resolve();
        };
        wake();
      });
    const CYCLES = 20;
    let started = 0;
    const writers = Array.from({ length: 3 }, () => startWriter(dir.path, `w${started++}`, onAck));
    await Promise.all(writers.map((writer) => writer.ready));
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      await untilAcks(8); // kill during the burst, after a count of acknowledgements, not a time
      const victims = cycle % 4 === 3 ? [cycle % 3, (cycle + 1) % 3] : [cycle % 3];
      await Promise.all(victims.map((slot) => kill(writers[slot]!)));
      for (const slot of victims) writers[slot] = startWriter(dir.path, `w${started++}`, onAck);
    }
    await Promise.all(writers.map((writer) => writer.ready));
    await untilAcks(8);
    await Promise.all(writers.map(kill));

    expect(acknowledged.size).toBeGreaterThanOrEqual(8 * (CYCLES + 1));
    const twice = [...acknowledged].filter(([, subjects]) => subjects.length > 1);
    expect(twice, 'versions acknowledged to more than one writer').toEqual([]);
    // Acknowledged writes were durable: the record is at or past every one, and if its version was acknowledged, it is that write.
    const final = (await (await FileStore.open(dir.path)).get('crash'))!.record;
    expect(final.version).toBeGreaterThanOrEqual(Math.max(...acknowledged.keys()));
    const finalAck = acknowledged.get(final.version);
    if (finalAck) expect(final.syncSubject).toBe(finalAck[0]);
    // That start (no writer is running) removed every lock and temporary file the killed writers left.
    expect(await readdir(join(dir.path, 'clusters'))).toEqual(['crash.json']);
    await dir.remove();
  }, 120_000);
});
