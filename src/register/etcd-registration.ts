// This host's endpoint as an etcd key under a lease that we keep alive (etcd-lease-keeper.ts): if
// we die the lease runs out and the key goes; if the check fails or we stop we revoke the lease. A
// lost lease (etcd answered that it no longer knows it) is granted anew and the key written again.
//
// `registered` claims only what etcd has confirmed: the key was written, and the lease's last
// renewal (or its grant) guarantees it until a known time. When renewals stop being answered,
// `registered` turns false the moment the lease may have expired, not when we learn that it did.
import type { EtcdTarget } from '../config/discovery-model.js';
import { acquireEtcd, releaseEtcd, type EtcdClient } from '../discovery/etcd-client.js';
import { etcdName } from '../discovery/registry-names.js';
import { LeaseKeeper } from './etcd-lease-keeper.js';
import type { RegistryEntry } from './registry-entry.js';
import { SerialReconciler } from './serial-reconciler.js';

const RETRY_MS = 500;

interface HeldLease {
  readonly id: string;
  readonly keeper: LeaseKeeper;
}

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
  private readonly client: EtcdClient;
  private readonly key: string;
  private lease: HeldLease | null = null;
  /** The key is written under the current lease. */
  private written = false;
  /** The lease certainly lives until then (epoch ms): granted or renewed with that much TTL left. */
  private aliveUntil = 0;
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
    return this.written && Date.now() < this.aliveUntil;
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
    const askedAt = Date.now();
    const grant = await this.client.leaseClient.leaseGrant({ TTL: this.target.ttl });
    this.aliveUntil = askedAt + Number(grant.TTL) * 1_000;
    const lease = { id: grant.ID, keeper: this.keep(grant.ID) };
    this.lease = lease;
    try {
      await this.client.put(this.key).value(this.value).lease(grant.ID).exec();
      if (this.lease === lease) this.written = true;
    } catch (err) {
      if (this.lease === lease) this.lease = null;
      lease.keeper.stop();
      throw err;
    }
  }

  /** Renewals start right after the grant, so that a slow put cannot cost the lease. */
  private keep(leaseId: string): LeaseKeeper {
    const keeper: LeaseKeeper = new LeaseKeeper(this.client, leaseId, this.target.ttl, {
      renewed: (until) => {
        if (this.lease?.keeper === keeper) this.aliveUntil = Math.max(this.aliveUntil, until);
      },
      expired: () => {
        if (this.lease?.keeper !== keeper) return;
        keeper.stop();
        this.lease = null;
        this.written = false;
        this.onError(new Error(`${this.description}: lease ${leaseId} expired; registering again`));
        this.reconcile();
      },
      trouble: (err) => {
        if (this.lease?.keeper === keeper) this.onError(new Error(`${this.description}: ${err.message}; renewing through another member`));
      },
    });
    return keeper;
  }

  /** Revoking deletes the key with the lease; if etcd is unreachable the TTL deletes it instead. */
  private async revoke(): Promise<void> {
    const lease = this.lease;
    this.lease = null;
    this.written = false;
    if (!lease) return;
    lease.keeper.stop();
    try {
      await this.client.leaseClient.leaseRevoke({ ID: lease.id });
    } catch {
      await this.client.delete().key(this.key).exec().catch(() => {});
    }
  }
}
