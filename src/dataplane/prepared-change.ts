// The bookkeeping every driver's prepared change shares (driver.ts): at most one is outstanding
// per driver, and it ends exactly once, by commit() or abort(). The Controller's apply queue
// guarantees both; a driver asserts them here, so a broken caller fails loudly instead of
// committing one change over another.
import type { ApplyReport, PrepareReport, PreparedChange } from './driver.js';
import type { Plan } from './plan-types.js';

/** What a driver's prepare produced: its report, and how to commit or abort it. */
export interface ChangeSteps {
  readonly plan: Plan;
  readonly prepared: PrepareReport;
  commit(): Promise<ApplyReport>;
  abort(): Promise<void> | void;
}

export class PreparedSlot {
  private outstanding = false;

  constructor(private readonly driver: string) {}

  /**
   * Runs `prepare` holding the slot: it is released when prepare throws, and otherwise when the
   * returned change commits or aborts (whether or not that succeeds).
   */
  async prepare(prepare: () => Promise<ChangeSteps>): Promise<PreparedChange> {
    if (this.outstanding) throw new Error(`${this.driver} driver: prepare while another prepared change is outstanding (the apply queue must run one at a time)`);
    this.outstanding = true;
    let steps: ChangeSteps;
    try {
      steps = await prepare();
    } catch (err) {
      this.outstanding = false;
      throw err;
    }
    let ended: string | null = null;
    const end = (how: string): void => {
      if (ended) throw new Error(`${this.driver} driver: ${how} of a prepared change already ended by ${ended}`);
      ended = how;
    };
    return {
      plan: steps.plan,
      prepared: steps.prepared,
      commit: async () => {
        end('commit');
        try {
          return await steps.commit();
        } finally {
          this.outstanding = false;
        }
      },
      abort: async () => {
        end('abort');
        try {
          await steps.abort();
        } finally {
          this.outstanding = false;
        }
      },
    };
  }
}
