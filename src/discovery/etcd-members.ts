// Which etcd member a client talks to. A client pins one member (picked at random, so a fleet
// spreads over the cluster) and sends every call and stream there: one connection, and a member
// whose silence can be blamed on it. A member that failed (unreachable, silent past a bound, or
// without a leader) is avoided for AVOID_MS and the pin moves to the next member that is not; when
// every member is avoided, to the one given up longest ago rather than nowhere.
//
// The etcd3 library picks a host per call from a shuffled list and runs the call through that
// host's fault-handling policy; a policy that refuses without running the call makes it try the
// next host. MemberPolicy is that policy: it admits only the pinned member, and records failures.
import { isRecoverableError, type IOptions } from 'etcd3';

type Policy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;

/** How long a failed member is passed over: long enough not to retry it on every reconnect. */
export const AVOID_MS = 10_000;

export class EtcdMember {
  avoidUntil = 0;
  lastError: string | null = null;

  constructor(readonly url: string) {}

  avoided(now: number): boolean {
    return now < this.avoidUntil;
  }
}

/** Thrown by a member's policy to make the library try the next host; never reaches callers. */
class NotPinned extends Error {}

export class EtcdMembers {
  readonly list: readonly EtcdMember[];
  private pinned: EtcdMember;

  constructor(urls: readonly string[]) {
    this.list = urls.map((url) => new EtcdMember(url));
    this.pinned = this.list[Math.floor(Math.random() * this.list.length)];
  }

  /** The etcd3 fault-handling policy for host `url`. */
  policyFor(url: string): Policy {
    const member = this.list.find((m) => m.url === url) ?? new EtcdMember(url);
    return new MemberPolicy(this, member) as unknown as Policy;
  }

  /**
   * The member calls go to now. When every member is avoided (an election under load can fail
   * them all in turn), the one whose avoidance ends first, i.e. given up longest ago: trying one
   * beats trying none, and each member gets its turn within one round, where a random pick
   * among them can go back to a hung one again and again (seen under load: the frozen member
   * dialled three times in 8 s, the others once, and the lease lost meanwhile).
   */
  current(now = Date.now()): EtcdMember {
    if (!this.pinned.avoided(now)) return this.pinned;
    const start = this.list.indexOf(this.pinned);
    let soonest = this.pinned;
    for (let i = 1; i <= this.list.length; i++) {
      const next = this.list[(start + i) % this.list.length];
      if (!next.avoided(now)) return (this.pinned = next);
      if (next.avoidUntil < soonest.avoidUntil) soonest = next;
    }
    return (this.pinned = soonest);
  }

  admits(member: EtcdMember): boolean {
    return this.current() === member;
  }

  /** Told of each member given up on: the client closes its connection to it (etcd-client.ts). */
  onFailed: (member: EtcdMember) => void = () => {};

  failed(member: EtcdMember, error: Error): void {
    member.avoidUntil = Date.now() + AVOID_MS;
    member.lastError = error.message;
    this.onFailed(member);
  }
}

/** A host's policy: runs calls only on the pinned member; a recoverable failure marks the member failed. */
export class MemberPolicy {
  readonly onSuccess = () => ({ dispose: () => {} });
  readonly onFailure = () => ({ dispose: () => {} });

  constructor(
    private readonly members: EtcdMembers,
    readonly member: EtcdMember,
  ) {}

  async execute<T>(fn: (context: { signal: AbortSignal }) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> {
    if (!this.members.admits(this.member)) throw new NotPinned(`${this.member.url} is not the pinned member`);
    try {
      return await fn({ signal: signal ?? new AbortController().signal });
    } catch (err) {
      if (err instanceof Error && isRecoverableError(err)) this.members.failed(this.member, err);
      throw err;
    }
  }
}
