// `hitless run --workers N` as a real process tree for the process-model tests: the supervisor
// (spawned here), its workers (found through /proc), the admin API on a unix socket. Cleanup
// kills by pid every process of the tree it ever saw, and is safe to call twice.
import { spawn, type ChildProcess } from 'node:child_process';
import { reapOnExit } from './reap.js';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminRequest, type AdminReply } from './admin.js';
import { CLI, ROOT, assertBuilt } from './paths.js';
import { waitFor } from './wait.js';

export interface ProcessStatus {
  pid: number;
  services: Array<{ name: string; total: number; active: number; failed: number }>;
  listeners: Array<{ address: string; socket: string | null; connections: number }>;
  process: {
    supervisorPid: number;
    generation: number;
    workers: Array<{ pid: number; generation: number; slot: number; state: string; inSync: boolean; exit?: string }>;
    processes: number;
    rssBytes: number;
    restarts: number;
    crashLoops: unknown[];
    draining: { generation: number } | null;
    upgrades: { ok: number; failed: number; handedOffConnections: number; movedConnections: number; drainedConnections: number; lostConnections: number; last: { ok: boolean; error?: string } | null };
  };
}

export interface SupervisedOptions {
  readonly workers: number;
  readonly config: (admin: string) => string;
  readonly args?: readonly string[];
  readonly env?: Record<string, string>;
  /** A folder to run in (the config is written there): kept by kill(), so a restart finds what the last run left. */
  readonly dir?: string;
}

export class SupervisedHitless {
  private output = '';
  /** Every pid of the tree seen so far (supervisors and workers), for cleanup. */
  readonly seen = new Set<number>();

  private constructor(
    readonly child: ChildProcess,
    readonly dir: string,
    private readonly ownsDir = true,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString()).slice(-400_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.seen.add(child.pid!);
  }

  static async start(options: SupervisedOptions): Promise<SupervisedHitless> {
    assertBuilt();
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hitless-process-'));
    const configPath = join(dir, 'hitless.yaml');
    writeFileSync(configPath, options.config(`unix:${join(dir, 'admin.sock')}`));
    const args = [CLI, 'run', '--config', configPath, '--workers', String(options.workers), '--drain', '500ms', ...(options.args ?? [])];
    const child = reapOnExit(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HITLESS_LOG_LEVEL: 'info', ...options.env } }));
    const h = new SupervisedHitless(child, dir, options.dir === undefined);
    await waitFor(`hitless --workers ${options.workers} to answer GET /status`, async () => {
      if (child.exitCode !== null) throw new Error(`hitless exited (${child.exitCode}):\n${h.logs()}`);
      const res = await h.request('GET', '/status');
      return res.status === 200;
    }, { timeoutMs: 20_000, intervalMs: 50 }).catch(async (err: Error) => {
      await h.kill();
      throw err;
    });
    await h.status();
    return h;
  }

  get socketPath(): string {
    return join(this.dir, 'admin.sock');
  }

  get faultFile(): string {
    return join(this.dir, 'fault');
  }

  logs(): string {
    return this.output;
  }

  request(method: string, path: string, body?: string): Promise<AdminReply> {
    return adminRequest(this.socketPath, method, path, body, {}, 60_000);
  }

  async status(): Promise<ProcessStatus> {
    const res = await this.request('GET', '/status');
    if (res.status !== 200) throw new Error(`GET /status: HTTP ${res.status} ${res.text}`);
    const s = res.json<ProcessStatus>();
    // `--workers 0` has no process section: the one process is the child.
    if (!s.process) return s;
    this.seen.add(s.process.supervisorPid);
    for (const w of s.process.workers) this.seen.add(w.pid);
    return s;
  }

  upgrade(query = ''): Promise<AdminReply> {
    return this.request('POST', `/upgrade${query}`, '');
  }

  /** The supervisor that answers the admin API now (it changes on a supervisor upgrade). */
  async supervisorPid(): Promise<number> {
    return (await this.status()).process.supervisorPid;
  }

  /** Processes of the tree now: the supervisor and all its descendants, from /proc. */
  async tree(): Promise<number[]> {
    const root = await this.supervisorPid();
    return descendants(root, true);
  }

  /** Sum of VmRSS over the tree, in bytes. */
  async treeRss(): Promise<{ processes: number; rssBytes: number }> {
    const pids = await this.tree();
    let rss = 0;
    for (const pid of pids) rss += rssOf(pid);
    return { processes: pids.length, rssBytes: rss };
  }

  /** SIGKILL every process of the tree ever seen (by pid), then remove the temp dir. */
  async kill(): Promise<void> {
    for (const pid of this.seen) for (const d of descendants(pid, false)) this.seen.add(d);
    for (const pid of this.seen) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    if (this.child.exitCode === null && this.child.signalCode === null) await new Promise((r) => this.child.once('exit', r));
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `root` (when asked) and every process whose parent chain leads to it. */
export function descendants(root: number, includeRoot: boolean): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parents.set(Number(entry), ppid);
    } catch {
      /* exited meanwhile */
    }
  }
  const out = includeRoot && parents.has(root) ? [root] : [];
  const frontier = [root];
  while (frontier.length > 0) {
    const p = frontier.pop()!;
    for (const [pid, ppid] of parents) {
      if (ppid === p && !out.includes(pid)) {
        out.push(pid);
        frontier.push(pid);
      }
    }
  }
  return out;
}

function rssOf(pid: number): number {
  const path = `/proc/${pid}/status`;
  if (!existsSync(path)) return 0;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
