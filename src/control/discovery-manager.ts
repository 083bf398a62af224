// Discovery as the controller's assembler: follows the running base config and wires three
// pieces that each hold one idea:
//  - discovery/source-tracker.ts: a source per service with `discovery:`, its last known good set,
//    its state and guards (what status shows);
//  - discovery-assembler.ts: those sets merged into whatever file/API config is being applied,
//    patched incrementally, with the services it touched for the plan;
//  - reapply-window.ts: a set that changed is applied within the coalescing window, a burst of
//    them in one apply.
import type { DiscoveryConfig } from '../config/discovery-model.js';
import type { ConfigSnapshot } from '../config/model.js';
import { SourceTracker, type DiscoveryStatus } from '../discovery/source-tracker.js';
import type { Source } from '../discovery/source.js';
import type { Logger } from '../observability/log.js';
import type { Assembled, Assembler, Controller } from './controller.js';
import { DiscoveryAssembler } from './discovery-assembler.js';
import { ReapplyWindow } from './reapply-window.js';

export interface DiscoveryManagerOptions {
  readonly createSource?: (config: DiscoveryConfig) => Source;
}

export class DiscoveryManager implements Assembler {
  private readonly sources: SourceTracker;
  private readonly assembler: DiscoveryAssembler;
  private readonly window: ReapplyWindow;
  private stopped = false;
  /** The base committed() last followed; the same one again has nothing to follow. */
  private followed: ConfigSnapshot | null = null;

  constructor(controller: Controller, log: Logger, options: DiscoveryManagerOptions = {}) {
    this.window = new ReapplyWindow(controller, log);
    this.sources = new SourceTracker(log, {
      createSource: options.createSource,
      onSetChanged: (service) => {
        this.assembler.touch(service);
        this.window.request();
      },
    });
    this.assembler = new DiscoveryAssembler(this.sources);
  }

  /** Starts the sources of `base` and waits (up to discovery_defaults.initial_wait) for their first answers. */
  async start(base: ConfigSnapshot): Promise<void> {
    this.committed(base);
    await this.sources.firstAnswers(base.config.discovery.initialWait);
  }

  /** `base` with the discovered sets in place (discovery-assembler.ts). */
  assemble(base: ConfigSnapshot): Assembled {
    // Stopping (shutdown): the sources are gone, not their sets; an apply still queued keeps them
    // rather than falling back to the static endpoints while listeners still accept.
    const kept = this.stopped ? this.assembler.lastOf(base) : null;
    return kept ?? this.assembler.assemble(base);
  }

  /** Follows the running base config: a source per service with `discovery:`, none for the others. */
  committed(base: ConfigSnapshot): void {
    if (this.stopped) return;
    this.window.committed();
    if (base === this.followed) return;
    this.followed = base;
    this.window.windowMs = base.config.discovery.coalesce;
    for (const service of this.sources.follow(base.config.services)) this.assembler.touch(service);
  }

  status(): Record<string, unknown> {
    return { discovery: this.describe() };
  }

  /** Sources not in sync yet, for GET /ready (source-tracker.ts). */
  unsynced(now = Date.now()): number {
    return this.sources.unsynced(this.followed?.config.discovery.initialWait ?? 0, now);
  }

  describe(): DiscoveryStatus[] {
    return this.sources.describe();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.window.stop();
    await this.sources.stop();
  }
}
