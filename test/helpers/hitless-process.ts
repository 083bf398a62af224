// The real `hitless run --config FILE` as a child process, with its admin API on a unix socket in
// a private temp dir. Ready means: GET /status answers. Cleanup kills this child by pid, then what
// it started (found by a mark in their environment), and fails if an HAProxy of it outlived it.
import { spawn, type ChildProcess } from 'node:child_process';
import { reapOnExit } from './reap.js';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminRequest, type AdminReply, type StatusDoc } from './admin.js';
import { endLeftovers, processesMarked, treeMark, type Proc } from './leftover-processes.js';
import { CLI, ROOT, assertBuilt } from './paths.js';
import { sleep } from './wait.js';

export interface StartOptions {
  /** Builds the config text given the admin address ("unix:/tmp/.../admin.sock"). */
  readonly config: (admin: string) => string;
  /** `--drain` for SIGTERM/SIGINT (default 500ms, to keep tests short). */
  readonly drain?: string;
  readonly logLevel?: string;
  readonly readyTimeoutMs?: number;
  /**
   * `--workers N` (absent: the default of `hitless run`). Tests of exact per-process state
   * (one upstream pool, passive health counts, a max_connections cap) pin 1: one worker still
   * runs behind the supervisor, but nothing is split between processes.
   */
  readonly workers?: number;
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export class HitlessProcess {
  private output = '';
  readonly exited: Promise<Exit>;
  exit: Exit | null = null;

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    readonly configPath: string,
    readonly socketPath: string,
    private readonly mark: string,
  ) {
    const keep = (chunk: Buffer) => {
      this.output += chunk.toString();
      if (this.output.length > 1_000_000) this.output = this.output.slice(-500_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  /** Writes the config, starts `hitless run`, and waits until its admin API answers. */
  static async start(options: StartOptions): Promise<HitlessProcess> {
    assertBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'hitless-test-'));
    const socketPath = join(dir, 'admin.sock');
    const configPath = join(dir, 'hitless.yaml');
    writeFileSync(configPath, options.config(`unix:${socketPath}`));
    const workers = options.workers === undefined ? [] : ['--workers', String(options.workers)];
    const mark = treeMark();
    const child = reapOnExit(spawn(process.execPath, [CLI, 'run', '--config', configPath, '--drain', options.drain ?? '500ms', '--log-level', options.logLevel ?? 'info', ...workers], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...mark.env },
    }));
    const h = new HitlessProcess(child, dir, configPath, socketPath, mark.value);
    const deadline = Date.now() + (options.readyTimeoutMs ?? 15_000);
    for (;;) {
      if (h.exit) {
        const leftovers = await h.kill().then(() => '', (err: Error) => `\n${err.message}`);
        throw new Error(`hitless exited before it was ready (${JSON.stringify(h.exit)}):\n${h.logs()}${leftovers}`);
      }
      try {
        const res = await adminRequest(socketPath, 'GET', '/status', undefined, {}, 2_000);
        // 401: a config with admin.token answers, only not to a request without it.
        if (res.status === 200 || res.status === 401) return h;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline) {
        const leftovers = await h.kill().then(() => '', (err: Error) => `\n${err.message}`);
        throw new Error(`hitless did not answer GET /status within the ready timeout:\n${h.logs()}${leftovers}`);
      }
      await sleep(30);
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get admin(): string {
    return `unix:${this.socketPath}`;
  }

  /** Everything the process wrote to stdout and stderr so far (bounded). */
  logs(): string {
    return this.output;
  }

  request(method: string, path: string, body?: string, headers?: Record<string, string>): Promise<AdminReply> {
    return adminRequest(this.socketPath, method, path, body, headers);
  }

  async status(): Promise<StatusDoc> {
    const res = await this.request('GET', '/status');
    if (res.status !== 200) throw new Error(`GET /status: HTTP ${res.status} ${res.text}`);
    return res.json<StatusDoc>();
  }

  /** PUT /config with a YAML body. */
  put(text: string, headers: Record<string, string> = {}): Promise<AdminReply> {
    return this.request('PUT', '/config', text, { 'content-type': 'application/yaml', ...headers });
  }

  writeConfig(text: string): void {
    writeFileSync(this.configPath, text);
  }

  signal(signal: NodeJS.Signals): void {
    if (!this.exit) process.kill(this.pid, signal);
  }

  /** Open file descriptors of the process (sockets included), from /proc. */
  openFds(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** The live processes this hitless started (and it, while it runs), wherever they were re-parented. */
  tree(): Proc[] {
    return processesMarked(this.mark);
  }

  /**
   * SIGKILL if still running; then, the HAProxy it started having had its time to follow (see
   * endLeftovers), kills by pid whatever of its tree is left and removes the temp dir. Rejects when
   * an HAProxy outlived hitless. Idempotent; for after() hooks.
   */
  async kill(): Promise<void> {
    if (!this.exit) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    try {
      await endLeftovers(`hitless (pid ${this.pid})`, () => this.tree());
    } finally {
      this.cleanupDir();
    }
  }

  private cleanupDir(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
