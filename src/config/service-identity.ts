// The one identity of a service: the settings that make it what the data plane serves, written
// out canonically, and a digest of them. The plan compares services by it (which changed, and
// which fields), the workers' config digest sums it (process/config-digest.ts), and the discovery
// assembler's config hash is made of it (control/discovery-assembler.ts); the field list lives here
// only. Computed once per service object and kept on it (own-slot.ts), so the plan, the digest
// and the assembler of one apply share one computation.
//
// Not the config hash that GET /config, ETags and If-Match use: that is the SHA-256 of the text a
// person wrote (load.ts), which names the text, not what it means.
import { canonical } from './canonical.js';
import { endpointListPrintHex } from './endpoint-list.js';
import { sha256Hex } from './hash.js';
import type { ClusterConfig, ServiceConfig } from './model.js';
import { ownSlot, peekSlot } from './own-slot.js';

/**
 * What a service's identity covers. `balance`, `endpoints` and `health` mirror the default
 * cluster, so `clusters` covers them; `name` is the service's key, and enters the digest; not
 * `discovery`: it tells the supervisor where endpoints come from (they arrive in `clusters`), and
 * a service whose identity is unchanged is not sent to the workers, so it must not count.
 */
export const IDENTITY_FIELDS = ['mode', 'listen', 'clusters', 'defaultCluster', 'routes', 'limits', 'timeouts', 'retries', 'maxConnections', 'accessLog', 'tls', 'haproxy'] as const;

export type IdentityField = (typeof IDENTITY_FIELDS)[number];

class Identity {
  /** IDENTITY_FIELDS as canonical text, in that order; each cluster's endpoint list as its print. */
  parts: readonly string[] | undefined = undefined;
  digest: bigint | undefined = undefined;
  /**
   * The service this one was made from by replacing a few fields (a discovery merge, a worker's
   * patch), whose parts are known: a field that is the same object has the same part. Dropped
   * once this one's parts are known, so it never holds a chain of old services.
   */
  from: ServiceConfig | undefined = undefined;
}

const IDENTITY = Symbol('hitless.serviceIdentity');

const identityOf = (service: ServiceConfig): Identity | undefined => ownSlot(service, IDENTITY, () => new Identity());

/**
 * `service` frozen, with room for its identity: how every ServiceConfig is finished. `from`: the
 * service it was made from by replacing some fields, so that its identity costs what changed.
 */
export function sealService(service: ServiceConfig, from?: ServiceConfig): ServiceConfig {
  const identity = identityOf(service);
  if (identity && from && peekSlot<Identity>(from, IDENTITY)?.parts) identity.from = from;
  return Object.freeze(service);
}

/** The identity's parts: IDENTITY_FIELDS written out canonically, in that order. */
export function identityParts(service: ServiceConfig): readonly string[] {
  const identity = identityOf(service);
  if (identity?.parts) return identity.parts;
  const from = identity?.from;
  const known = from && identityParts(from);
  const parts = IDENTITY_FIELDS.map((field, i) => (known && service[field] === from[field] ? known[i] : partOf(service, field)));
  if (identity) {
    identity.parts = parts;
    identity.from = undefined;
  }
  return parts;
}

/** SHA-256 of the name and the parts (canonical text never holds a raw newline), as a number: the workers' config digest sums them. */
export function serviceDigest(service: ServiceConfig): bigint {
  const identity = identityOf(service);
  if (identity?.digest !== undefined) return identity.digest;
  const digest = BigInt(`0x${sha256Hex(`${service.name}\n${identityParts(service).join('\n')}`)}`);
  if (identity) identity.digest = digest;
  return digest;
}

/** The fields whose parts differ, in IDENTITY_FIELDS order; empty when the two serve the same. */
export function changedFields(a: ServiceConfig, b: ServiceConfig): IdentityField[] {
  if (a === b) return [];
  const x = identityParts(a);
  const y = identityParts(b);
  return IDENTITY_FIELDS.filter((_, i) => x[i] !== y[i]);
}

function partOf(service: ServiceConfig, field: IdentityField): string {
  if (field === 'clusters') return canonical(clustersView(service.clusters));
  // TLS material comes from files, not from the text: its digest (settings and the certificate
  // and key bytes) is the identity, so a renewed certificate is a changed service.
  if (field === 'tls') return service.tls ? `tls ${service.tls.digest}` : 'null';
  return canonical(service[field]);
}

/** The clusters with each endpoint list replaced by its print, and upstream TLS by its digest. */
function clustersView(clusters: ReadonlyMap<string, ClusterConfig>): Map<string, unknown> {
  const view = new Map<string, unknown>();
  // TLS to the endpoints, like tls: by its digest (settings and the files' bytes): a renewed
  // client certificate or CA file is a changed service, and no key or PEM enters the text.
  for (const [name, cluster] of clusters) view.set(name, { ...cluster, endpoints: endpointListPrintHex(cluster.endpoints), upstreamTls: cluster.upstreamTls ? `upstream_tls ${cluster.upstreamTls.digest}` : null });
  return view;
}
