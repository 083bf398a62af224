// Endpoints are the keys under a prefix, each value nerve's JSON. We list once (learning the
// revision), then watch from revision + 1 so nothing between the two is missed. The watcher
// resumes by itself after a reconnect; we also re-list then, because a resume can be refused
// (compacted history) and because a fresh list is cheap and certainly right. Watch events not
// newer than the last list are ignored, so a list and a replaying watch never disagree.
//
// Malformed values: that key is left out and named in `problems`; the other keys are used.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { EtcdTarget } from '../config/discovery-model.js';
import { acquireEtcd, releaseEtcd } from './etcd-client.js';
import { collectEntries, parseEndpointJson, type ParsedEntry } from './parse-endpoint.js';
import { etcdName } from './registry-names.js';
import type { Source, SourceListener } from './source.js';

const RETRY_MS = 500;

export class EtcdSource implements Source {
  readonly description: string;
  private client: Etcd3 | null = null;
  private watcher: Watcher | null = null;
  private listener: SourceListener | null = null;
  private readonly entries = new Map<string, ParsedEntry>();
  private listedRevision = 0;
  private needsList = false;
  private listing: Promise<void> | null = null;
  private emitQueued = false;
  private erred = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(private readonly target: EtcdTarget) {
    this.description = etcdName(target);
  }

  async start(listener: SourceListener): Promise<void> {
    if (this.client) return;
    this.listener = listener;
    this.client = acquireEtcd(this.target.endpoints);
    await this.resync();
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    this.listener = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const watcher = this.watcher;
    this.watcher = null;
    watcher?.removeAllListeners();
    watcher?.on('error', () => {});
    // A cancel needs etcd to answer; when it is down the watcher is simply dropped with the client.
    if (watcher) await Promise.race([watcher.cancel().catch(() => {}), new Promise((r) => setTimeout(r, 500).unref())]);
    releaseEtcd(client);
  }

  /** Lists the prefix, replaces the set with it, then makes sure a watcher follows from there. */
  private resync(): Promise<void> {
    this.listing ??= this.list().finally(() => (this.listing = null));
    return this.listing;
  }

  private async list(): Promise<void> {
    const client = this.client;
    if (!client) return;
    try {
      const res = await client.getAll().prefix(this.target.prefix).exec();
      if (this.client !== client) return;
      this.needsList = false;
      this.listedRevision = Number(res.header.revision);
      this.entries.clear();
      for (const kv of res.kvs) this.entries.set(this.id(kv), parseEndpointJson(kv.value));
      this.emit();
      if (!this.watcher) this.watch(client, this.listedRevision + 1);
    } catch (err) {
      if (this.client !== client) return;
      this.needsList = true;
      this.fail(err as Error);
      this.retryTimer = setTimeout(() => void this.resync(), RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private watch(client: Etcd3, fromRevision: number): void {
    const watcher = client.watch().prefix(this.target.prefix).startRevision(String(fromRevision)).watcher();
    this.watcher = watcher;
    watcher.on('put', (kv) => this.change(kv, true));
    watcher.on('delete', (kv) => this.change(kv, false));
    watcher.on('disconnected', (err) => {
      this.needsList = true;
      this.fail(err);
    });
    watcher.on('connected', () => {
      if (this.needsList) void this.resync();
    });
    // Cancelled by etcd (e.g. the revision was compacted): start over with a list and a new watch.
    watcher.on('error', (err) => {
      if (this.watcher !== watcher) return;
      this.watcher = null;
      this.fail(err);
      watcher.cancel().catch(() => {});
      this.retryTimer = setTimeout(() => void this.resync(), RETRY_MS);
      this.retryTimer.unref();
    });
  }

  private change(kv: IKeyValue, present: boolean): void {
    if (Number(kv.mod_revision) <= this.listedRevision) return;
    if (present) this.entries.set(this.id(kv), parseEndpointJson(kv.value));
    else this.entries.delete(this.id(kv));
    // One 'data' response carries many events: report the set once, after all of them.
    if (this.emitQueued) return;
    this.emitQueued = true;
    queueMicrotask(() => {
      this.emitQueued = false;
      if (!this.needsList) this.emit();
    });
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
