// The config digest that the supervisor and every worker compute on their own side (GET /status
// shows each worker's and whether they agree), updated in O(services changed) so that an apply
// that patches k services costs k leaf hashes, not a hash of the whole config.
//
// It names what a worker serves: the settings outside `services`, and each service by its
// identity (config/service-identity.ts), the same one the plan compares services by: a service
// the plan finds unchanged is not sent to the workers, so the two must never disagree.
//
// Services are combined by a sum of their digests modulo 2^256 (order-free, and updated by one
// subtraction and one addition per changed service); the digest is a SHA-256 over the top
// settings' hash, the service count and that sum. An identity for "same config?", not a MAC.
// Values are written out canonically (sorted object keys, numbers as text), so the digest does
// not depend on how V8 represents a value on either side of IPC. A service's digest is computed
// once per service object and costs what changed: an endpoint list derived by a delta gets its
// print from its parent's (config/endpoint-list.ts), so one endpoint changed in a service of
// 5,000 costs a few hashes here, not a canonical text of 5,000 endpoints.
import { canonical } from '../config/canonical.js';
import { sha256Hex } from '../config/hash.js';
import type { Config, ServiceConfig } from '../config/model.js';
import { serviceDigest } from '../config/service-identity.js';

export type TopSettings = Omit<Config, 'services'>;

const MASK = (1n << 256n) - 1n;

export interface DigestStep {
  /** The digest the config will have. */
  readonly value: string;
  /** Makes the digest it was computed from name that config. */
  commit(): void;
}

export class ConfigDigest {
  private cached: string | null = null;

  private constructor(
    private top: string,
    private readonly leaves: Map<string, bigint>,
    private sum: bigint,
  ) {}

  static of(config: Config): ConfigDigest {
    const leaves = new Map<string, bigint>();
    let sum = 0n;
    for (const [name, service] of config.services) {
      const leaf = serviceDigest(service);
      leaves.set(name, leaf);
      sum += leaf;
    }
    return new ConfigDigest(topOf(config), leaves, sum & MASK);
  }

  get value(): string {
    return (this.cached ??= finish(this.top, this.leaves.size, this.sum));
  }

  /**
   * The digest after `services` are set (added or replaced by name), `removed` are gone and, when
   * given, `top` replaces the top settings. Nothing changes here until the step's commit().
   */
  next(services: readonly ServiceConfig[], removed: readonly string[], top?: TopSettings): DigestStep {
    const staged = new Map<string, bigint | undefined>();
    for (const name of removed) staged.set(name, undefined);
    for (const service of services) staged.set(service.name, serviceDigest(service));
    let sum = this.sum;
    let size = this.leaves.size;
    for (const [name, leaf] of staged) {
      const old = this.leaves.get(name);
      if (old !== undefined) {
        sum -= old;
        size--;
      }
      if (leaf !== undefined) {
        sum += leaf;
        size++;
      }
    }
    sum &= MASK;
    const topHash = top ? topOf(top) : this.top;
    const value = finish(topHash, size, sum);
    return {
      value,
      commit: () => {
        for (const [name, leaf] of staged) {
          if (leaf === undefined) this.leaves.delete(name);
          else this.leaves.set(name, leaf);
        }
        this.sum = sum;
        this.top = topHash;
        this.cached = value;
      },
    };
  }
}

/** Whether any setting outside `services` is another object (configs derived by discovery share them). */
export function topChanged(from: Config, to: Config): boolean {
  const keys = new Set([...Object.keys(from), ...Object.keys(to)]);
  for (const key of keys) if (key !== 'services' && (from as unknown as Record<string, unknown>)[key] !== (to as unknown as Record<string, unknown>)[key]) return true;
  return false;
}

export function topSettings(config: Config): TopSettings {
  return Object.fromEntries(Object.entries(config).filter(([key]) => key !== 'services')) as unknown as TopSettings;
}

function topOf(config: TopSettings | Config): string {
  const top = 'services' in config ? topSettings(config) : config;
  return sha256Hex(canonical(top));
}

function finish(top: string, size: number, sum: bigint): string {
  return sha256Hex(`${top}\n${size}\n${sum.toString(16)}`);
}
