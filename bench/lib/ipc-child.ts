// A helper process of a bench (load clients, attackers) forked with an IPC channel: the bench
// sends it commands and awaits its typed reports, each wait bounded in time.
import { fork, type ChildProcess } from 'node:child_process';

export class IpcChild<ToChild extends { t: string }, FromChild extends { t: string }> {
  private readonly child: ChildProcess;
  private readonly inbox: FromChild[] = [];
  private readonly waiters: Array<() => void> = [];
  private exited = false;

  /** `script` is a TypeScript file run through tsx, like the benches themselves. */
  constructor(
    readonly name: string,
    script: string,
    args: readonly string[],
  ) {
    this.child = fork(script, [...args], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (msg: FromChild) => {
      this.inbox.push(msg);
      this.wake();
    });
    this.child.once('exit', () => {
      this.exited = true;
      this.wake();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  send(msg: ToChild): void {
    if (this.child.connected) this.child.send(msg);
  }

  /** The next report of kind `t`; rejects after `timeoutMs` or if the process exits first. */
  async next<T extends FromChild['t']>(t: T, timeoutMs: number): Promise<Extract<FromChild, { t: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.t === t);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<FromChild, { t: T }>;
      if (this.exited) throw new Error(`${this.name} (pid ${this.pid}) exited before reporting "${t}"`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name} (pid ${this.pid}) did not report "${t}" within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** Stops the process (by its pid) if it is still running, and waits for it. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
    await gone;
    clearTimeout(timer);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
