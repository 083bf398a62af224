// The live progress line: rewritten in place on a terminal, one plain line every few seconds
// otherwise (CI logs, pipes), always on stderr so that --json output on stdout stays clean.
import type { Progress } from './run-torture.js';

export function progressReporter(stream: NodeJS.WriteStream = process.stderr, plainEveryMs = 5000): {
  update(progress: Progress): void;
  done(): void;
} {
  let lastPlain = 0;
  let lastTarget = '';
  let drawn = false;
  const text = (p: Progress) =>
    `${p.target}: ${(p.elapsedMs / 1000).toFixed(1)}/${(p.durationMs / 1000).toFixed(0)} s, ` +
    `${p.ok} ok, ${p.failed} failed, ${p.actions} actions`;
  return {
    update(progress) {
      if (stream.isTTY) {
        stream.write(`\r\x1b[K${text(progress)}`);
        drawn = true;
        return;
      }
      const now = Date.now();
      if (progress.target !== lastTarget || now - lastPlain >= plainEveryMs) {
        lastTarget = progress.target;
        lastPlain = now;
        stream.write(`${text(progress)}\n`);
      }
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
