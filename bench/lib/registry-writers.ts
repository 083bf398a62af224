// How bench:converge writes to a registry: nerve's JSON entries under one path (ZooKeeper) or
// prefix (etcd) per service, through hitless's own client settings.
import { Etcd3 } from 'etcd3';
import { etcdOptions } from '../../src/discovery/etcd-client.js';
import { ZookeeperSession } from '../../src/discovery/zookeeper-session.js';

export interface Writer {
  readonly kind: 'zookeeper' | 'etcd';
  /** The `discovery:` of service `i`. */
  discovery(i: number): Record<string, unknown>;
  put(service: number, id: string, value: object): Promise<void>;
  remove(service: number, id: string): Promise<void>;
  close(): Promise<void>;
}

/** `hosts`: every ZooKeeper server, "host:port". */
export function zookeeperWriter(hosts: readonly string[]): Writer {
  const session = ZookeeperSession.acquire(hosts, 30_000);
  const path = (i: number) => `/bench/svc-${i}`;
  return {
    kind: 'zookeeper',
    discovery: (i) => ({ zookeeper: { hosts: hosts.join(','), path: path(i) } }),
    async put(i, id, value) {
      const node = `${path(i)}/${id}`;
      const data = Buffer.from(JSON.stringify(value));
      await session.call<string>((c, cb) => c.mkdirp(path(i), cb));
      try {
        await session.call<string>((c, cb) => c.create(node, data, cb));
      } catch {
        await session.call((c, cb) => c.setData(node, data, cb));
      }
    },
    remove: (i, id) => session.call<void>((c, cb) => c.remove(`${path(i)}/${id}`, (err) => cb(err, undefined))),
    close: () => session.release(),
  };
}

/** `urls`: every etcd member's client URL. */
export function etcdWriter(urls: readonly string[]): Writer {
  const client = new Etcd3(etcdOptions(urls));
  const prefix = (i: number) => `/bench/svc-${i}/`;
  return {
    kind: 'etcd',
    discovery: (i) => ({ etcd: { endpoints: [...urls], prefix: prefix(i) } }),
    put: async (i, id, value) => void (await client.put(prefix(i) + id).value(JSON.stringify(value)).exec()),
    remove: async (i, id) => void (await client.delete().key(prefix(i) + id).exec()),
    close: async () => client.close(),
  };
}
