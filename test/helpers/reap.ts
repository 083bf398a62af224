// Processes a test file started die with it. A test that times out (or an assertion thrown before
// its after() hook) would otherwise leave hitless, ZooKeeper or etcd running after the file ends
// or the runner signals it: they are killed on 'exit' and on those signals, by pid, and only
// those this file started.
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let installed = false;

export function reapOnExit(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!installed) {
    installed = true;
    process.once('exit', killAll);
    // The test runner ends a file that overran its timeout with a signal: no 'exit' event then.
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
      process.once(signal, () => {
        killAll();
        process.exit(128 + (signal === 'SIGTERM' ? 15 : signal === 'SIGINT' ? 2 : 1));
      });
    }
  }
  return child;
}

function killAll(): void {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
