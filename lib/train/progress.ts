/**
 * Progress display for training: a bar redrawn in place on a terminal, nothing between epoch lines
 * when the output is not a TTY (logs, CI, pipes), so logs stay clean.
 */
export interface ProgressSink {
  /** Whether anything is drawn (if not, the running figures need not be read, e.g. from a GPU). */
  readonly shown: boolean;
  /**
   * Called during an epoch with the running figures; `total` steps is unknown for streamed data,
   * `accuracy` when the loss does not count it.
   */
  update(epoch: number, epochs: number, done: number, total: number | undefined, loss: number, accuracy: number | undefined, seconds: number): void;
  /** Clears the bar (before an epoch line is printed). */
  clear(): void;
}

/** Where the bar is drawn: process.stderr or any stream with the same two members. (A structural
 * type, so the published declarations need no @types/node.) */
export interface TextStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export function progressFor(stream: TextStream | undefined, mode: 'auto' | 'bar' | 'none' = 'auto'): ProgressSink {
  const enabled = mode === 'bar' || (mode === 'auto' && stream?.isTTY === true);
  if (!enabled || !stream) return { shown: false, update() {}, clear() {} };
  let drawn = false;
  return {
    shown: true,
    update(epoch, epochs, done, total, loss, accuracy, seconds) {
      const width = 28;
      const filled = total === undefined ? 0 : Math.round((width * done) / total);
      const bar = total === undefined ? '' : ` [${'='.repeat(Math.max(0, filled - 1)) + (filled > 0 ? '>' : '') + ' '.repeat(width - filled)}]`;
      const accu = accuracy === undefined ? '' : `  accu ${accuracy.toFixed(4)}`;
      const line = `epoch ${epoch + 1}/${epochs}${bar} ${done}/${total ?? '?'}  loss ${loss.toFixed(4)}${accu}  ${seconds.toFixed(1)}s`;
      stream.write(`\r${line}\x1b[K`);
      drawn = true;
    },
    clear() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
