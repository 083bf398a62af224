// Config → Source: the only place that knows which class serves which `discovery:` kind.
import type { DiscoveryTarget } from '../config/discovery-model.js';
import { DnsSource } from './dns-source.js';
import { EtcdSource } from './etcd-source.js';
import { FileSource } from './file-source.js';
import type { Source } from './source.js';
import { ZookeeperSource } from './zookeeper-source.js';

export function createSource(target: DiscoveryTarget): Source {
  switch (target.kind) {
    case 'zookeeper':
      return new ZookeeperSource(target);
    case 'etcd':
      return new EtcdSource(target);
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
