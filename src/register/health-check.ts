// The local service's health, as nerve judges it: a check every `interval`, `rise` successes in
// a row to count as up, `fall` failures in a row to count as down. A service starts down, so it
// is announced only once it has proven itself.
import { request } from 'node:http';
import { connect } from 'node:net';
import type { CheckConfig } from '../config/discovery-model.js';

/** One probe: a TCP connect, or an HTTP GET that must answer 2xx, within `timeout`. */
export function probe(check: CheckConfig, host: string, servicePort: number): Promise<boolean> {
  const port = check.port ?? servicePort;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => {
      finish(false);
      cleanup();
    }, check.timeout);
    let cleanup = () => {};
    if (check.type === 'tcp') {
      const socket = connect({ host, port });
      cleanup = () => socket.destroy();
      socket.once('connect', () => {
        finish(true);
        socket.destroy();
      });
      socket.once('error', () => finish(false));
      return;
    }
    const req = request({ host, port, path: check.path, method: 'GET', agent: false, headers: { 'user-agent': 'hitless-register' } }, (res) => {
      const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
      res.resume();
      finish(ok);
    });
    cleanup = () => req.destroy();
    req.once('error', () => finish(false));
    req.end();
  });
}

export class HealthChecker {
  private up = false;
  private streak = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly check: CheckConfig,
    private readonly host: string,
    private readonly port: number,
    private readonly onChange: (up: boolean) => void,
  ) {}

  get isUp(): boolean {
    return this.up;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.run();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async run(): Promise<void> {
    const ok = await probe(this.check, this.host, this.port);
    if (!this.running) return;
    if (ok === this.up) this.streak = 0;
    else if (++this.streak >= (ok ? this.check.rise : this.check.fall)) {
      this.up = ok;
      this.streak = 0;
      this.onChange(ok);
    }
    this.timer = setTimeout(() => void this.run(), this.check.interval);
  }
}
