// The normalised, frozen configuration every other module reads. Built only by load.ts.
import type { AdminAddress, HostPort } from './address.js';
import type { BalanceAlgorithm, ServiceMode } from './schema.js';

export interface Timeouts {
  /** Milliseconds to wait for an endpoint's TCP handshake before trying the next endpoint. */
  readonly connect: number;
  /** Milliseconds without traffic after which a proxied connection is closed (0: never). */
  readonly idle: number;
  /** Milliseconds connections of a removed listener may keep running before they are closed. */
  readonly drain: number;
}

export interface EndpointConfig extends HostPort {
  readonly weight: number;
}

export interface ServiceConfig {
  readonly name: string;
  readonly mode: ServiceMode;
  readonly listen: readonly HostPort[];
  readonly balance: BalanceAlgorithm;
  readonly endpoints: readonly EndpointConfig[];
  readonly timeouts: Timeouts;
  /** Extra endpoints tried when a connect fails, before the client is given up on. */
  readonly retries: number;
  /** Cap on concurrent client connections; null is unlimited. */
  readonly maxConnections: number | null;
}

export interface Config {
  readonly admin: { readonly listen: AdminAddress; readonly token: string | null };
  /** Services by name, in the order the file lists them. */
  readonly services: ReadonlyMap<string, ServiceConfig>;
}

/** A config plus where it came from: the text is what GET /config returns, the hash its ETag. */
export interface ConfigSnapshot {
  readonly config: Config;
  readonly source: string;
  readonly text: string;
  readonly hash: string;
}
