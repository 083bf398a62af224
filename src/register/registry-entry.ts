// One registration in one registry: told whether the service should be announced, it makes the
// registry agree and keeps it agreeing (reconnects, expired sessions, lost leases).
export interface RegistryEntry {
  readonly description: string;
  /**
   * True only while the registry is known to hold our entry, read as of now (invariant 9): a
   * lost connection, a member that stopped answering or a session/lease that may have run out
   * makes it false until the registry has confirmed or re-created the entry.
   */
  readonly registered: boolean;
  setWanted(up: boolean): void;
  /** Deregisters and releases connections; idempotent. */
  stop(): Promise<void>;
}
