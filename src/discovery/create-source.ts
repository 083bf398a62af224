// Config → Source: the only place that knows which class serves which `discovery:` kind.
// The ZooKeeper and etcd sources are loaded on first start: their client libraries (etcd3 brings
// gRPC and protobufjs) cost the supervisor 13–16 MB of memory that a config without them need not pay.
import type { DiscoveryTarget } from '../config/discovery-model.js';
import { DnsSource } from './dns-source.js';
import { FileSource } from './file-source.js';
import { etcdName, zookeeperName } from './registry-names.js';
import type { Source, SourceListener } from './source.js';

export function createSource(target: DiscoveryTarget): Source {
  switch (target.kind) {
    case 'zookeeper':
      return new LazySource(zookeeperName(target), async () => new (await import('./zookeeper-source.js')).ZookeeperSource(target));
    case 'etcd':
      return new LazySource(etcdName(target), async () => new (await import('./etcd-source.js')).EtcdSource(target));
    case 'dns':
      return new DnsSource(target);
    case 'file':
      return new FileSource(target);
  }
}

/** Two targets watch the same thing (so a reload need not restart the source). */
export function sameTarget(a: DiscoveryTarget, b: DiscoveryTarget): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * A source whose implementation is imported by its first start(); it then only forwards. A stop()
 * while the import is under way wins over the start() that began it: nothing starts watching.
 */
class LazySource implements Source {
  private loading: Promise<Source> | null = null;
  /** Bumped by every stop(), so a start() that was waiting for the import knows it was stopped. */
  private stops = 0;

  constructor(
    readonly description: string,
    private readonly load: () => Promise<Source>,
  ) {}

  async start(listener: SourceListener): Promise<void> {
    const stops = this.stops;
    this.loading ??= this.load().catch((err: unknown) => {
      this.loading = null;
      throw err;
    });
    const source = await this.loading;
    if (stops === this.stops) await source.start(listener);
  }

  async stop(): Promise<void> {
    this.stops++;
    const source = await this.loading?.catch(() => null);
    await source?.stop();
  }
}
