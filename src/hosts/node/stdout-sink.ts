/**
 * Log lines are gathered and written once per event-loop turn: one write syscall for many
 * requests under load, and nothing is held back longer than the current turn.
 */
export function bufferedWriter(write: (chunk: string) => void): {
  write: (line: string) => void;
  flush: () => void;
} {
  let pending: string[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const chunk = pending.join('');
    pending = [];
    write(chunk);
  };
  return {
    write(line: string) {
      pending.push(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}
