// Re-apply scheduling for discovery: a registry change usually comes in a burst (a deploy moves
// many instances within milliseconds), and each apply has a fixed cost (with workers, a round
// trip to each). The first change opens a window (discovery_defaults.coalesce); everything that
// arrives within it rides on one apply of the running base at its end, which the controller
// assembles with whatever is in effect by then.
import type { Logger } from '../observability/log.js';
import type { Controller } from './controller.js';

export class ReapplyWindow {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** A change came before the first apply committed; applied right after it. */
  private pendingUntilCommit = false;
  /** The window's length (discovery_defaults.coalesce of the running base). */
  windowMs = 20;

  constructor(
    private readonly controller: Controller,
    private readonly log: Logger,
  ) {}

  /** Something changed: the first change opens a window; everything that arrives within it rides on one apply. */
  request(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const base = this.controller.base;
      if (this.stopped) return;
      // The first apply has not committed yet (a supervisor still starting its workers): it may
      // have assembled its config before this change, so apply again once it has committed.
      if (!base) return void (this.pendingUntilCommit = true);
      this.controller.apply(base, { origin: 'discovery' }).catch((err: Error) => {
        this.log.error({ err: err.message }, 'discovered endpoints could not be applied; the running config keeps serving');
      });
    }, this.windowMs);
  }

  /** An apply committed: a change that came before the first one is applied now. */
  committed(): void {
    if (this.stopped || !this.pendingUntilCommit) return;
    this.pendingUntilCommit = false;
    this.request();
  }

  /** No apply is started from now on. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }
}
