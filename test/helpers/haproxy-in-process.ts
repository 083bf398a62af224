// Hitless on the HAProxy data plane, started in the test's own process (Hitless.start) against
// Debian's real HAProxy, in a private temp dir that holds the state dir and the admin socket. The
// teardown stops hitless, then makes sure no HAProxy naming that dir is left, by pid: waited for
// (hitless's stop waits for its master) and killed if it is still there, and the test then fails
// with its pid, so neither a failed test nor a hitless bug leaves one running with its ports.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.js';
import { HaproxyDriver } from '../../src/dataplane/haproxy/haproxy-driver.js';
import { Hitless } from '../../src/hitless.js';
import { silentLogger } from '../../src/observability/log.js';
import { endLeftovers, haproxyNaming } from './leftover-processes.js';

export { HAPROXY, haproxyMissing } from './paths.js';

export class HaproxyUnderTest {
  private running: Hitless | undefined;

  private constructor(readonly dir: string) {}

  /** A fresh private directory (`prefix` names the test in /tmp); nothing runs yet. */
  static async create(prefix: string): Promise<HaproxyUnderTest> {
    return new HaproxyUnderTest(await mkdtemp(join(tmpdir(), prefix)));
  }

  /** The admin API's unix socket path, in the private dir. */
  get adminSocket(): string {
    return join(this.dir, 'admin.sock');
  }

  /** The `dataplane:` section every config of this instance uses (its state dir in the private dir). */
  get dataplane(): { driver: 'haproxy'; haproxy: { state_dir: string } } {
    return { driver: 'haproxy', haproxy: { state_dir: join(this.dir, 'haproxy') } };
  }

  get hitless(): Hitless {
    assert.ok(this.running, 'hitless is not running');
    return this.running;
  }

  get driver(): HaproxyDriver {
    const driver = this.hitless.controller.driver;
    assert.ok(driver instanceof HaproxyDriver, `expected the haproxy driver, got ${driver.name}`);
    return driver;
  }

  /** Hitless.start on `text` (a config with `dataplane`); `file` names it in errors. */
  async start(text: string, options: { file?: string; stateFile?: string } = {}): Promise<Hitless> {
    assert.equal(this.running, undefined, 'hitless is already running');
    const snapshot = parseConfig(text, options.file ?? 'test.yaml');
    this.running = await Hitless.start({ snapshot, log: silentLogger(), ...(options.stateFile !== undefined ? { stateFile: options.stateFile } : {}) });
    void this.driver; // asserts the plane
    return this.running;
  }

  /** Stops hitless (no drain); rejects, naming them, if HAProxy processes outlive it. Idempotent. */
  async stop(): Promise<void> {
    const h = this.running;
    this.running = undefined;
    try {
      await h?.stop(0);
    } finally {
      await endLeftovers(`hitless in process, state in ${this.dir}`, () => haproxyNaming(this.dir));
    }
  }

  /** For after(): stop(), then remove the private dir, whatever happened. */
  async close(): Promise<void> {
    try {
      await this.stop();
    } finally {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}
