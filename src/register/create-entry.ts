// Registration target → RegistryEntry: the only place that knows which class serves which
// registry. Like the discovery sources (discovery/create-source.ts), the ZooKeeper and etcd
// implementations are imported when a config first registers into them, so that a process that
// registers nothing never loads their client libraries.
import type { RegistrationConfig } from '../config/discovery-model.js';
import { etcdName, zookeeperName } from '../discovery/registry-names.js';
import type { RegistryEntry } from './registry-entry.js';

/** The entry for `name` (with the JSON `value`) in the config's registry; `onError` hears every problem. */
export function createEntry(target: RegistrationConfig['target'], name: string, value: string, onError: (error: Error) => void): RegistryEntry {
  const safe = name.replace(/\//g, '_');
  if (target.kind === 'zookeeper') {
    // Ephemeral sequential nodes: the prefix is the name, the sequence number makes each unique.
    const prefix = `${safe}_`;
    return new LazyEntry(zookeeperName(target, `/${prefix}`), onError, async () => {
      const { ZookeeperRegistration } = await import('./zookeeper-registration.js');
      return new ZookeeperRegistration(target, prefix, Buffer.from(value), onError);
    });
  }
  return new LazyEntry(etcdName(target, `${target.prefix}${safe}`), onError, async () => {
    const { EtcdRegistration } = await import('./etcd-registration.js');
    return new EtcdRegistration(target, safe, value, onError);
  });
}

/**
 * An entry whose implementation is being imported: what it is told meanwhile (setWanted) is handed
 * on once it exists; stopped before that, it is never created (no session, no lease).
 */
class LazyEntry implements RegistryEntry {
  private entry: RegistryEntry | null = null;
  private wanted: boolean | null = null;
  private stopped = false;
  private readonly loading: Promise<void>;

  constructor(
    readonly description: string,
    onError: (error: Error) => void,
    load: () => Promise<RegistryEntry>,
  ) {
    this.loading = load().then(
      (entry) => {
        if (this.stopped) return;
        this.entry = entry;
        if (this.wanted !== null) entry.setWanted(this.wanted);
      },
      (err: Error) => onError(err),
    );
  }

  get registered(): boolean {
    return this.entry?.registered ?? false;
  }

  setWanted(up: boolean): void {
    this.wanted = up;
    this.entry?.setWanted(up);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loading;
    await this.entry?.stop();
  }
}
