// One interface for every registry (ZooKeeper, etcd, DNS, files). A source only reports what it
// sees; deciding what to do with it (coalescing, last-known-good, min_endpoints) is control/'s job.

/** One endpoint as a registry announces it (nerve's JSON shape: host, port, name?, weight?, labels?). */
export interface DiscoveredEndpoint {
  readonly host: string;
  readonly port: number;
  readonly weight?: number;
  readonly name?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface SourceListener {
  /**
   * The complete current set (not a delta). An empty array means the registry really holds none.
   * `problems` names entries that were malformed and left out (the rest is still the truth), so
   * control can apply the set and still show the source as degraded.
   */
  onEndpoints(endpoints: readonly DiscoveredEndpoint[], problems?: readonly string[]): void;
  /** The source cannot currently tell the truth (registry down, session lost, malformed data). */
  onError(error: Error): void;
}

export interface Source {
  /** Human-readable origin, e.g. "zookeeper 127.0.0.1:2181/services/web". */
  readonly description: string;
  /** Begins watching; resolves once watching has been set up (not necessarily with data). */
  start(listener: SourceListener): Promise<void>;
  /** Stops watching and releases connections; idempotent. */
  stop(): Promise<void>;
}
