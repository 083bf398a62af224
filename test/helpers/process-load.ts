// Mixed client load for the process-model tests, run from the test process against loopback:
// a new connection per request, keep-alive requests (Node's agent never retries, so any reset
// counts), and long-lived TCP connections pinging every few ms. Refused connections are counted
// apart from other failures: a refused connect is what the process model must never cause.
import { Agent, get, type ClientRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { waitFor } from './wait.js';

export interface Counts {
  ok: number;
  failed: number;
  refused: number;
  errors: Record<string, number>;
}

export interface LongLivedCounts {
  opened: number;
  pings: number;
  /** Connections the server closed (a cut-short drain), reconnected after. */
  closedByServer: number;
  /** Resets, lost echoes, refused connects. */
  failed: number;
  refused: number;
  errors: Record<string, number>;
}

export interface LoadReport {
  newConnection: Counts;
  keepAlive: Counts;
  longLived: LongLivedCounts;
}

const counts = (): Counts => ({ ok: 0, failed: 0, refused: 0, errors: {} });

function fail(c: Counts | LongLivedCounts, err: NodeJS.ErrnoException | string): void {
  const code = typeof err === 'string' ? err : (err.code ?? err.message);
  if (code === 'ECONNREFUSED') c.refused++;
  else c.failed++;
  c.errors[code] = (c.errors[code] ?? 0) + 1;
}

function request(port: number, agent: Agent | false): Promise<void> {
  return new Promise((resolve, reject) => {
    const req: ClientRequest = get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export interface MixedLoadOptions {
  readonly httpPort: number;
  readonly tcpPort: number;
  /** Concurrent long-lived connections kept open (reopened when the server closes one). */
  readonly longLived: number;
  readonly pingMs?: number;
  /** Hard bound: the loops stop by themselves after this, even if a failed test never calls stop(). */
  readonly maxMs?: number;
}

export class MixedLoad {
  readonly report: LoadReport = { newConnection: counts(), keepAlive: counts(), longLived: { opened: 0, pings: 0, closedByServer: 0, failed: 0, refused: 0, errors: {} } };
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 2 });
  private readonly sockets = new Set<Socket>();

  constructor(private readonly options: MixedLoadOptions) {
    const bound = setTimeout(() => void this.stop(), options.maxMs ?? 180_000);
    bound.unref();
    for (let i = 0; i < 2; i++) this.loops.push(this.loop(this.report.newConnection, false));
    for (let i = 0; i < 2; i++) this.loops.push(this.loop(this.report.keepAlive, this.agent));
    for (let i = 0; i < options.longLived; i++) this.loops.push(this.longLivedLoop());
  }

  /**
   * Waits until `n` more requests of each kind (new connection, keep-alive) have been answered
   * than when called: "traffic ran through this state", whatever the machine's speed.
   */
  async progressed(what: string, n = 5, timeoutMs = 20_000): Promise<void> {
    const fresh = this.report.newConnection.ok;
    const kept = this.report.keepAlive.ok;
    await waitFor(what, () => this.report.newConnection.ok >= fresh + n && this.report.keepAlive.ok >= kept + n, { timeoutMs, intervalMs: 10 });
  }

  private async loop(c: Counts, agent: Agent | false): Promise<void> {
    while (this.running) {
      try {
        await request(this.options.httpPort, agent);
        c.ok++;
      } catch (err) {
        fail(c, err as NodeJS.ErrnoException);
      }
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  private async longLivedLoop(): Promise<void> {
    while (this.running) {
      await this.longLived(() => !this.running);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** One long-lived connection: pings until `done()` (then ends it cleanly) or the server closes it. */
  longLived(done: () => boolean, onPing?: () => void): Promise<'ended' | 'closed-by-server' | 'failed'> {
    const c = this.report.longLived;
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: this.options.tcpPort, noDelay: true });
      this.sockets.add(socket);
      let expected: string | null = null;
      let buffer = '';
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const finish = (how: 'ended' | 'closed-by-server' | 'failed') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.sockets.delete(socket);
        resolve(how);
      };
      const ping = () => {
        if (settled) return;
        if (done()) {
          socket.end();
          return finish('ended');
        }
        expected = `p${c.pings++}.`;
        buffer = '';
        socket.write(expected);
        timer = setTimeout(() => {
          fail(c, 'lost-echo');
          socket.destroy();
          finish('failed');
        }, 5_000);
      };
      socket.once('connect', () => {
        c.opened++;
        ping();
      });
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        if (expected === null || buffer !== expected) return;
        clearTimeout(timer);
        expected = null;
        onPing?.();
        setTimeout(ping, this.options.pingMs ?? 5);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        fail(c, err);
        finish('failed');
      });
      socket.once('close', () => {
        if (settled) return;
        // An orderly close (FIN) by the server: a drain that ended, not an error. A reset or a
        // lost echo on a connection that stays open is what counts as a failure.
        c.closedByServer++;
        finish('closed-by-server');
      });
    });
  }

  async stop(): Promise<LoadReport> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
    for (const s of this.sockets) s.destroy();
    return this.report;
  }
}

/** A one-line summary for the test log. */
export function summarize(r: LoadReport): string {
  const f = (c: Counts) => `${c.ok} ok, ${c.failed} failed, ${c.refused} refused${Object.keys(c.errors).length ? ` ${JSON.stringify(c.errors)}` : ''}`;
  const l = r.longLived;
  return `new-connection: ${f(r.newConnection)} | keep-alive: ${f(r.keepAlive)} | long-lived: ${l.opened} opened, ${l.pings} pings, ${l.closedByServer} closed by server, ${l.failed} failed, ${l.refused} refused${Object.keys(l.errors).length ? ` ${JSON.stringify(l.errors)}` : ''}`;
}
