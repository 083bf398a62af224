// Requests that ask for "the current state again" with nobody waiting for their answer (SIGHUP:
// re-read the config file) are folded: one run at a time, and requests that arrive while one runs
// become exactly one more run after it, which sees whatever is current by then. So a burst of
// them costs at most two applies (with the HAProxy data plane, two reloads), never one per request.
export type RunRequest = 'started' | 'queued' | 'folded';

export class CoalescedRun {
  private running = false;
  /** Requests received since the running run began; the next run answers all of them. */
  private waiting = 0;

  /** `run(requests)`: `requests` is how many requests this run answers (≥ 1). It must not reject. */
  constructor(private readonly run: (requests: number) => Promise<void>) {}

  /** started: a run began now; queued: one will follow the running one; folded: into that queued one. */
  request(): RunRequest {
    if (!this.running) {
      this.start(1);
      return 'started';
    }
    return ++this.waiting === 1 ? 'queued' : 'folded';
  }

  private start(requests: number): void {
    this.running = true;
    void this.run(requests)
      .catch(() => {})
      .finally(() => {
        this.running = false;
        const next = this.waiting;
        this.waiting = 0;
        if (next > 0) this.start(next);
      });
  }
}
