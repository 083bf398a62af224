// Endpoints are the keys under a prefix, each value nerve's JSON. One cycle: list the prefix
// (a linearizable read, which only a member in touch with its leader can answer), then watch from
// the listed revision + 1, so nothing between the two is missed or seen twice. The set is
// reported once etcd confirmed the watch, and after that on every change: reporting means "in
// sync". When the watch ends (its member went silent or lost its leader, or the history it needed
// was compacted), the source is degraded at once and starts a new cycle, which goes through
// another member (the failed one is avoided); it is healthy again when that cycle's watch is
// confirmed. A failed list is retried every RETRY_MS.
//
// Malformed values: that key is left out and named in `problems`; the other keys are used.
import type { IEvent, IKeyValue } from 'etcd3';
import type { EtcdTarget } from '../config/discovery-model.js';
import { acquireEtcd, releaseEtcd, type EtcdClient } from './etcd-client.js';
import type { WatchHandle } from './etcd-watch.js';
import { collectEntries, parseEndpointJson, type ParsedEntry } from './parse-endpoint.js';
import { etcdName } from './registry-names.js';
import type { Source, SourceListener } from './source.js';

const RETRY_MS = 500;

export class EtcdSource implements Source {
  readonly description: string;
  private client: EtcdClient | null = null;
  private watch: WatchHandle | null = null;
  private listener: SourceListener | null = null;
  private entries = new Map<string, ParsedEntry>();
  private erred = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly target: EtcdTarget) {
    this.description = etcdName(target);
  }

  async start(listener: SourceListener): Promise<void> {
    if (this.client) return;
    this.listener = listener;
    this.client = acquireEtcd(this.target.endpoints);
    await this.sync();
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    this.listener = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.watch?.cancel();
    this.watch = null;
    releaseEtcd(client);
  }

  /** One cycle: list, then watch from the next revision. */
  private async sync(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.watch?.cancel();
    this.watch = null;
    let revision: number;
    try {
      const res = await client.getAll().prefix(this.target.prefix).exec();
      if (this.client !== client) return;
      revision = Number(res.header.revision);
      this.entries = new Map(res.kvs.map((kv) => [this.id(kv), parseEndpointJson(kv.value)]));
    } catch (err) {
      if (this.client !== client) return;
      this.fail(err as Error);
      this.retryIn(RETRY_MS);
      return;
    }
    this.follow(client, revision + 1);
  }

  private follow(client: EtcdClient, fromRevision: number): void {
    let confirmed = false;
    const handle: WatchHandle = client.watches.watch(this.target.prefix, fromRevision, {
      created: () => {
        if (this.watch !== handle) return;
        confirmed = true;
        this.emit();
      },
      events: (events) => {
        if (this.watch !== handle) return;
        for (const event of events) this.apply(event);
        this.emit();
      },
      ended: (err) => {
        if (this.watch !== handle) return;
        this.watch = null;
        this.fail(err);
        // A watch that worked is replaced at once (through another member); one refused at
        // creation is not retried in a tight loop.
        this.retryIn(confirmed ? 0 : RETRY_MS);
      },
    });
    this.watch = handle;
  }

  private apply(event: IEvent): void {
    if (event.type === 'Delete') this.entries.delete(this.id(event.kv));
    else this.entries.set(this.id(event.kv), parseEndpointJson(event.kv.value));
  }

  private retryIn(ms: number): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.sync();
    }, ms);
    this.retryTimer.unref();
  }

  private emit(): void {
    if (!this.listener) return;
    const { endpoints, problems } = collectEntries([...this.entries].sort(([a], [b]) => (a < b ? -1 : 1)));
    this.erred = false;
    this.listener.onEndpoints(endpoints, problems);
  }

  private fail(error: Error): void {
    if (this.erred || !this.listener) return;
    this.erred = true;
    this.listener.onError(new Error(`etcd ${this.target.prefix}: ${error.message}`));
  }

  private id(kv: IKeyValue): string {
    return kv.key.toString().slice(this.target.prefix.length);
  }
}
