// Live state of one endpoint of one service. It belongs to the identity (service + address), not
// to a config generation: applies hand the same object to the new generation (invariant 4).
export class EndpointState {
  /** Connections (tcp) or requests (http) in flight: least-conn reads it on every pick. */
  active = 0;
  total = 0;
  /** Connect failures and timeouts since start. */
  failures = 0;
  /** Consecutive connect failures; reset by a success. Passive health reads it. */
  consecutiveFailures = 0;
  /** False when health checking has taken the endpoint out; balancers skip it. */
  healthy = true;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    readonly service: string,
    readonly key: string,
  ) {}
}
