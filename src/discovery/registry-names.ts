// How a place in a registry is named in status, logs and errors. Kept apart from the sources and
// registrations so that naming one does not load its client library (see create-source.ts).
import type { EtcdTarget, ZookeeperTarget } from '../config/discovery-model.js';

/** e.g. "zookeeper 127.0.0.1:2181/services/web" (`suffix` names a node under the path). */
export function zookeeperName(target: Pick<ZookeeperTarget, 'hosts' | 'path'>, suffix = ''): string {
  return `zookeeper ${target.hosts.join(',')}${target.path}${suffix}`;
}

/** e.g. "etcd http://127.0.0.1:2379 /services/web/" (`key` defaults to the prefix). */
export function etcdName(target: Pick<EtcdTarget, 'endpoints' | 'prefix'>, key = target.prefix): string {
  return `etcd ${target.endpoints.join(',')} ${key}`;
}
