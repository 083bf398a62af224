// This host's endpoint as an etcd key under a lease that we keep alive: if we die the lease runs
// out and the key goes; if the check fails or we stop we revoke the lease. A lost lease (etcd
// was unreachable for longer than the TTL) is granted anew and the key written again.
import type { Etcd3, Lease } from 'etcd3';
import type { EtcdTarget } from '../config/discovery-model.js';
import { acquireEtcd, releaseEtcd } from '../discovery/etcd-client.js';
import { etcdName } from '../discovery/registry-names.js';
import type { RegistryEntry } from './registry-entry.js';
import { SerialReconciler } from './serial-reconciler.js';

const RETRY_MS = 500;

export class EtcdRegistration implements RegistryEntry {
  private readonly reconciler = new SerialReconciler(
    () => {
      if (this.stopped || this.wanted === this.written) return null;
      return this.wanted ? this.register() : this.revoke();
    },
    (err) => this.onError(new Error(`${this.description}: ${err.message}`)),
    RETRY_MS,
  );
  readonly description: string;
  private readonly client: Etcd3;
  private readonly key: string;
  private lease: Lease | null = null;
  private written = false;
  private wanted = false;
  private stopped = false;

  constructor(
    private readonly target: EtcdTarget & { readonly ttl: number },
    name: string,
    private readonly value: string,
    private readonly onError: (error: Error) => void,
  ) {
    this.key = `${target.prefix}${name}`;
    this.description = etcdName(target, this.key);
    this.client = acquireEtcd(target.endpoints);
  }

  get registered(): boolean {
    return this.written;
  }

  setWanted(up: boolean): void {
    this.wanted = up;
    this.reconcile();
  }

  async stop(): Promise<void> {
    this.wanted = false;
    this.stopped = true;
    await this.reconciler.settle();
    await this.revoke();
    releaseEtcd(this.client);
  }

  private reconcile(): void {
    this.reconciler.run();
  }

  private async register(): Promise<void> {
    const lease = this.client.lease(this.target.ttl, { autoKeepAlive: true });
    this.lease = lease;
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.lease = null;
      this.written = false;
      this.onError(new Error(`${this.description}: lease lost (${err.message}); registering again`));
      this.reconcile();
    });
    try {
      await lease.put(this.key).value(this.value).exec();
      this.written = true;
    } catch (err) {
      this.lease = null;
      lease.release();
      throw err;
    }
  }

  /** Revoking deletes the key with the lease; if etcd is unreachable the TTL deletes it instead. */
  private async revoke(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    this.written = false;
    if (!lease) return;
    try {
      await lease.revoke();
    } catch {
      lease.release();
      await this.client.delete().key(this.key).exec().catch(() => {});
    }
  }
}
