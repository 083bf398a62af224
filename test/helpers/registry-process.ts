// A registry server (ZooKeeper, etcd) as a child process of the test, on loopback, with a private
// temp data dir. It can be killed (SIGKILL, like a crash) and started again on the same port
// with the same data, frozen (SIGSTOP) and thawed. Only this child is ever signalled, by pid.
import { spawn, type ChildProcess } from 'node:child_process';
import { reapOnExit } from './reap.js';
import { rmSync } from 'node:fs';
import { waitFor } from './wait.js';

export abstract class RegistryProcess {
  private child: ChildProcess | null = null;
  private output = '';

  protected constructor(
    readonly name: string,
    readonly dir: string,
  ) {}

  protected abstract command(): { file: string; args: string[] };
  /** True once the server answers its clients. */
  protected abstract ready(): Promise<boolean>;

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  async start(timeoutMs = 20_000): Promise<void> {
    if (this.child) return;
    const { file, args } = this.command();
    const child = reapOnExit(spawn(file, args, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] }));
    const keep = (c: Buffer) => (this.output = (this.output + c.toString()).slice(-20_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', () => {
      if (this.child === child) this.child = null;
    });
    this.child = child;
    try {
      await waitFor(`${this.name} to answer`, () => this.child === child && this.ready(), { timeoutMs, intervalMs: 50 });
    } catch (err) {
      throw new Error(`${(err as Error).message}; its output ends with:\n${this.output.slice(-2_000)}`);
    }
  }

  /** Like a crash: SIGKILL, no goodbye to clients. */
  async kill(): Promise<void> {
    await this.signalAndWait('SIGKILL');
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    child.kill('SIGCONT');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  thaw(): void {
    this.child?.kill('SIGCONT');
  }

  /** Stops the server and removes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async signalAndWait(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    await exited;
  }
}
