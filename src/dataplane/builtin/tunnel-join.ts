// The receiving side of a tunnel moved from another process (a worker of the previous generation):
// the two handles that came over IPC are joined again as a tunnel under the service's running
// runtime, asleep (read by libuv, their sockets built when a peer first sends: tunnel.ts), each
// direction that had finished there finished here too. The connection counts again here (active,
// the endpoint's active) but not as a new one (total was counted where it was accepted); its access
// line is written here, at its end. The tunnel is itself the connection the service's and the
// listener's tables hold (it has no client socket while asleep).
import type { NativeTcpHandle } from '../../util/node-internals.js';
import type { ServiceRuntime } from './service-runtime.js';
import { observeMovedTunnel } from './exchange-observer.js';
import { Tunnel, type TunnelEnds, type TunnelRecord } from './tunnel.js';
import type { EndpointState } from '../endpoint-state.js';

/** Default idle timeout of a tunnel whose service is gone from this process's config (not expected: same config). */
const ORPHAN_IDLE_MS = 60_000;

export function joinTunnel(runtime: ServiceRuntime | undefined, record: TunnelRecord, ends: TunnelEnds, clientHandle: NativeTcpHandle, endpointHandle: NativeTcpHandle): Tunnel {
  const handles = { clientHandle, endpointHandle };
  if (!runtime) return new Tunnel(handles, record, ORPHAN_IDLE_MS, false, () => {}, ends);
  const service = runtime.state;
  const endpoint = endpointStateOf(runtime, record);
  if (record.kind === 'tcp') service.active++;
  if (endpoint) endpoint.active++;
  const { connections } = runtime;
  const tunnel: Tunnel = new Tunnel(handles, record, runtime.config.timeouts.idle, false, () => settle(), ends);
  connections.add(tunnel);
  let counted = false;
  /** This process's part of the connection's counters; once, at its end here or when it moves on. */
  function settle(): void {
    if (counted) return;
    counted = true;
    connections.delete(tunnel);
    const client = tunnel.clientBytes();
    if (record.kind === 'tcp') {
      service.active--;
      service.bytesIn += client.read;
      service.bytesOut += client.written;
    }
    if (endpoint) {
      endpoint.active--;
      const bytes = tunnel.endpointBytes();
      endpoint.bytesIn += bytes.written;
      endpoint.bytesOut += bytes.read;
    }
  }
  tunnel.once('close', () => {
    observeMovedTunnel(runtime, tunnel.clientBytes(), record);
    settle();
  });
  return tunnel;
}

function endpointStateOf(runtime: ServiceRuntime, record: TunnelRecord): EndpointState | undefined {
  const cluster = (record.cluster !== null ? runtime.clusters.get(record.cluster) : undefined) ?? runtime.defaultCluster;
  return cluster.endpoint(record.endpoint)?.state;
}
