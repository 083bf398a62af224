// Active health checks, one per endpoint identity that has them configured. A check belongs to the
// endpoint's state, not to a generation: applies that keep the endpoint keep its verdict, and only
// a change of the check's own settings restarts its schedule (the verdict stays).
import type { ActiveHealthConfig } from '../../../config/model.js';
import type { BalancerEndpoint } from '../../balancers/balancer.js';
import type { EndpointState } from '../../endpoint-state.js';
import type { ServiceRuntime } from '../service-runtime.js';
import { probe } from './probe.js';

class Check {
  private timer: NodeJS.Timeout | null = null;
  private passes = 0;
  private fails = 0;
  private stopped = false;

  constructor(
    readonly endpoint: BalancerEndpoint,
    readonly config: ActiveHealthConfig,
  ) {
    this.schedule(Math.random() * Math.min(config.interval, 1000)); // spread first probes
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.run(), delay);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const up = await probe(this.endpoint.host, this.endpoint.port, this.config);
    if (this.stopped) return;
    const state = this.endpoint.state;
    if (up) {
      this.fails = 0;
      if (!state.activeUp && ++this.passes >= this.config.rise) state.activeUp = true;
    } else {
      this.passes = 0;
      if (state.activeUp && ++this.fails >= this.config.fall) state.activeUp = false;
    }
    this.schedule(this.config.interval);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

export class ActiveHealthChecks {
  private readonly checks = new Map<EndpointState, Check>();

  /** Makes the running checks match the generation's clusters. */
  reconcile(runtimes: Iterable<ServiceRuntime>): void {
    const wanted = new Map<EndpointState, { endpoint: BalancerEndpoint; config: ActiveHealthConfig }>();
    for (const runtime of runtimes) {
      for (const { cluster, endpoint } of runtime.allEndpoints()) {
        const config = cluster.config.health.active;
        if (config) wanted.set(endpoint.state, { endpoint, config });
      }
    }
    for (const [state, check] of this.checks) {
      const want = wanted.get(state);
      if (!want || !sameCheck(want.config, check.config) || want.endpoint.host !== check.endpoint.host) {
        check.stop();
        this.checks.delete(state);
        if (!want) state.activeUp = true; // no longer checked: presumed up, as when never checked
      }
    }
    for (const [state, want] of wanted) if (!this.checks.has(state)) this.checks.set(state, new Check(want.endpoint, want.config));
  }

  stopAll(): void {
    for (const check of this.checks.values()) check.stop();
    this.checks.clear();
  }
}

function sameCheck(a: ActiveHealthConfig, b: ActiveHealthConfig): boolean {
  return a.type === b.type && a.path === b.path && a.interval === b.interval && a.timeout === b.timeout && a.rise === b.rise && a.fall === b.fall;
}
