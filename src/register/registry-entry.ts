// One registration in one registry: told whether the service should be announced, it makes the
// registry agree and keeps it agreeing (reconnects, expired sessions, lost leases).
export interface RegistryEntry {
  readonly description: string;
  /** True while the registry holds our entry (as far as we know). */
  readonly registered: boolean;
  setWanted(up: boolean): void;
  /** Deregisters and releases connections; idempotent. */
  stop(): Promise<void>;
}
