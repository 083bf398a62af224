// What the reload-torture benchmark needs to run hitless with the HAProxy data plane: two configs
// that differ only in endpoints (set and weights), so alternating between them is pure endpoint
// churn, which this driver applies through the runtime API with no reload.
export interface HaproxyChurnOptions {
  readonly adminSocket: string;
  readonly stateDir: string;
  readonly port: number;
  /** Ports of the HTTP backends the traffic goes to. */
  readonly backendPorts: readonly number[];
  readonly binary?: string;
  /** A TLS service "webtls" (termination in HAProxy, rotated through its runtime API by hitless). */
  readonly tls?: { readonly port: number; readonly cert: string; readonly key: string };
}

function config(o: HaproxyChurnOptions, endpoints: readonly string[]): string {
  const binary = o.binary ? `, binary: "${o.binary}"` : '';
  return `admin: { listen: "unix:${o.adminSocket}" }
dataplane: { driver: haproxy, haproxy: { state_dir: "${o.stateDir}"${binary} } }
services:
  web:
    mode: http
    listen: 127.0.0.1:${o.port}
    balance: round-robin
    endpoints: [${endpoints.join(', ')}]
    timeouts: { connect: 2s, idle: 60s, drain: 10s }
${o.tls ? tlsService(o.tls, endpoints) : ''}`;
}

function tlsService(tls: NonNullable<HaproxyChurnOptions['tls']>, endpoints: readonly string[]): string {
  return `  webtls:
    mode: http
    listen: 127.0.0.1:${tls.port}
    balance: round-robin
    endpoints: [${endpoints.join(', ')}]
    timeouts: { connect: 2s, idle: 60s, drain: 10s }
    tls:
      certificates: [{ cert: "${tls.cert}", key: "${tls.key}" }]
`;
}

/** For certificate rotation by PUT: the same config twice, the second naming another certificate. */
export function haproxyCertConfigs(o: HaproxyChurnOptions, other: { readonly cert: string; readonly key: string }): readonly [string, string] {
  const all = o.backendPorts.map((p) => `"127.0.0.1:${p}"`);
  return [config(o, all), config({ ...o, tls: { ...o.tls!, ...other } }, all)];
}

/** Config A: every backend, weight 1. Config B: the last backend removed, the others weighted 2, 3, ... */
export function haproxyChurnConfigs(o: HaproxyChurnOptions): readonly [string, string] {
  const all = o.backendPorts.map((p) => `"127.0.0.1:${p}"`);
  const kept = o.backendPorts.length > 1 ? o.backendPorts.slice(0, -1) : o.backendPorts;
  const weighted = kept.map((p, i) => `{ address: "127.0.0.1:${p}", weight: ${i + 2} }`);
  return [config(o, all), config(o, weighted)];
}
