// The two proxies the smuggling harness talks to: hitless run from the CURRENT source tree
// (`node --import tsx src/cli/main.ts run --workers 0`: one process, one endpoint pool, so the
// attacker and the victims share pooled endpoint connections), and HAProxy (when installed) in
// front of its own copy of the logging endpoints, for the differential check. Each is a child
// process of this one, stopped by pid; listen ports are drawn from 21000-21999.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withParentDeathSignal } from '../../src/dataplane/haproxy/parent-death.js';
import { adminRequest } from './admin.js';
import { httpConfig } from './http-client.js';
import { ROOT } from './paths.js';
import { portRange, probeConnect } from './ports.js';
import { reapOnExit } from './reap.js';
import { CLUSTERS, ROUTES, type ClusterName } from './smuggle-corpus.js';
import { sleep } from './wait.js';

/** A free port in 21000-21999, claimed for this process (ports.ts). */
export const harnessPort = portRange(21_000, 21_999);

export interface ProxyProcess {
  readonly name: 'hitless' | 'haproxy';
  readonly port: number;
  readonly pid: number;
  logs(): string;
  alive(): boolean;
  stop(): Promise<void>;
}

class Child implements ProxyProcess {
  private output = '';
  private exited = false;
  private readonly exit: Promise<void>;

  constructor(
    readonly name: 'hitless' | 'haproxy',
    readonly port: number,
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {
    const keep = (d: Buffer): void => {
      this.output += d.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exit = new Promise((resolve) =>
      child.once('exit', () => {
        this.exited = true;
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  logs(): string {
    return this.output;
  }

  alive(): boolean {
    return !this.exited;
  }

  async stop(): Promise<void> {
    if (!this.exited) {
      this.child.kill('SIGKILL');
      await Promise.race([this.exit, sleep(5_000)]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The hitless route table as config. */
function routesConfig(): Array<{ host?: string; path?: string; cluster: string }> {
  return ROUTES.map((r) => ({ ...(r.host ? { host: r.host } : {}), ...(r.path ? { path: r.path } : {}), cluster: r.cluster }));
}

/**
 * Where hitless's source is run from: this tree, or SMUGGLE_HITLESS_ROOT (another checkout, e.g.
 * an older commit extracted with `git archive`, to show that the harness catches its bugs).
 */
export function hitlessRoot(): string {
  return process.env.SMUGGLE_HITLESS_ROOT ?? ROOT;
}

/** Starts hitless from src/ (tsx), one process, with one endpoint per cluster; ready = /status answers. */
export async function startHitless(endpoints: Record<ClusterName, string>, readyTimeoutMs = 30_000): Promise<ProxyProcess> {
  const root = hitlessRoot();
  const dir = mkdtempSync(join(tmpdir(), 'hitless-smuggle-'));
  const socketPath = join(dir, 'admin.sock');
  const configPath = join(dir, 'hitless.yaml');
  const port = await harnessPort();
  const health = { passive: { consecutive_failures: 1000, ejection: '100ms' } };
  const clusters = Object.fromEntries(CLUSTERS.map((c) => [c, { endpoints: [endpoints[c]], health }]));
  writeFileSync(
    configPath,
    httpConfig(`unix:${socketPath}`, {
      web: { listen: `127.0.0.1:${port}`, clusters, routes: routesConfig(), timeouts: { connect: '1s', idle: '3s', header: '2s', response: '2s' }, retries: 0 },
    }),
  );
  const child = reapOnExit(
    spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'run', '--config', configPath, '--workers', '0', '--drain', '200ms', '--log-level', 'warn'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const proc = new Child('hitless', port, child, dir);
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (!proc.alive()) {
      await proc.stop();
      throw new Error(`hitless (${root}src, tsx) exited before it was ready:\n${proc.logs()}`);
    }
    try {
      const res = await adminRequest(socketPath, 'GET', '/status', undefined, {}, 2_000);
      if (res.status === 200 && (await probeConnect(port, 1_000)) === 'connected') return proc;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`hitless did not become ready within ${readyTimeoutMs} ms:\n${proc.logs()}`);
    }
    await sleep(50);
  }
}

/** The haproxy binary's version line, or null when it is not installed. */
export function haproxyVersion(): string | null {
  try {
    return execFileSync('haproxy', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0];
  } catch {
    return null;
  }
}

/** HAProxy in front of `endpoints`, with the same routes as hitless; ready = its port accepts. */
export async function startHaproxy(endpoints: Record<ClusterName, string>): Promise<ProxyProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'haproxy-smuggle-'));
  const configPath = join(dir, 'haproxy.cfg');
  const port = await harnessPort();
  const host = 'req.hdr(host),lower,regsub(:[0-9]*$,)';
  const backends = CLUSTERS.map((c) => `backend be_${c}\n  server s1 ${endpoints[c]}\n`).join('\n');
  writeFileSync(
    configPath,
    [
      'global',
      '  maxconn 2000',
      'defaults',
      '  mode http',
      '  timeout connect 1s',
      '  timeout client 3s',
      '  timeout server 2s',
      '  timeout http-request 2s',
      'frontend fe',
      `  bind 127.0.0.1:${port}`,
      `  use_backend be_A if { ${host} -m str a.example }`,
      '  use_backend be_ADMIN if { path_beg /admin }',
      `  use_backend be_WILD if { ${host} -m end .w.example }`,
      '  default_backend be_DEFAULT',
      backends,
    ].join('\n'),
  );
  execFileSync('haproxy', ['-c', '-q', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  // reapOnExit cannot run when this process is SIGKILLed: the parent-death signal stops HAProxy then.
  const args = ['-db', '-f', configPath];
  const run = withParentDeathSignal('haproxy', args) ?? { command: 'haproxy', args };
  const child = reapOnExit(spawn(run.command, run.args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  const proc = new Child('haproxy', port, child, dir);
  const deadline = Date.now() + 10_000;
  while ((await probeConnect(port, 500)) !== 'connected') {
    if (!proc.alive() || Date.now() > deadline) {
      await proc.stop();
      throw new Error(`haproxy did not start:\n${proc.logs()}`);
    }
    await sleep(30);
  }
  return proc;
}
