// One reconcile at a time for a registration: a call while one runs is remembered and run after
// it; a failed one is retried after a pause. Shared by the ZooKeeper and etcd registrations.
export class SerialReconciler {
  private busy = false;
  private again = false;
  private retry: NodeJS.Timeout | null = null;

  /** `step` starts the work needed now, or returns null when the registry already matches. */
  constructor(
    private readonly step: () => Promise<void> | null,
    private readonly onError: (err: Error) => void,
    private readonly retryMs: number,
  ) {}

  run(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    const work = this.step();
    if (!work) return;
    this.busy = true;
    this.again = false;
    work.then(
      () => this.done(),
      (err: Error) => {
        this.onError(err);
        this.done();
        this.retry = setTimeout(() => this.run(), this.retryMs);
        this.retry.unref();
      },
    );
  }

  private done(): void {
    this.busy = false;
    if (this.again) this.run();
  }

  /** Cancels a pending retry and waits for the running step, if any. */
  async settle(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    while (this.busy) await new Promise((r) => setTimeout(r, 10));
  }
}
