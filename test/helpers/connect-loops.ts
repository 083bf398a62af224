// New connections in tight loops while applies run, for the driver conformance suite: each
// attempt is one fresh connection, fully served or kept as a failure with its reason.
import { request } from './http-client.js';
import { echoOnce } from './tcp-client.js';
import { waitFor } from './wait.js';

/**
 * New connections in tight loops (one connection per attempt) while applies run: every attempt
 * that is not fully served is kept with its reason. Bounded in count; stopped by the test.
 */
export class ConnectLoops {
  ok = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(attempts: ReadonlyArray<() => Promise<string | null>>) {
    this.loops = attempts.map(async (attempt) => {
      for (let i = 0; this.running && i < 200_000; i++) {
        const failure = await attempt();
        if (failure === null) this.ok++;
        else this.failures.push(failure);
      }
    });
  }

  get attempts(): number {
    return this.ok + this.failures.length;
  }

  /** Waits until `n` more attempts have finished than when called. */
  async more(n: number, what: string): Promise<void> {
    const at = this.attempts;
    await waitFor(`${n} more connections ${what}`, () => this.attempts >= at + n, { timeoutMs: 20_000, intervalMs: 5 });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

export async function tcpAttempt(port: number): Promise<string | null> {
  const outcome = await echoOnce(port);
  return outcome.ok ? null : `tcp :${port} ${outcome.reason}`;
}

export async function httpAttempt(port: number): Promise<string | null> {
  try {
    const r = await request(port, '/', { agent: false, timeoutMs: 5_000 });
    return r.status === 200 ? null : `http :${port} HTTP ${r.status} ${r.headers['x-hitless-error'] ?? ''}`;
  } catch (err) {
    return `http :${port} ${(err as Error).message}`;
  }
}
