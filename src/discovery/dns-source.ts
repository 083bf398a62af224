// A name resolved to endpoints and re-resolved when its records expire: the next poll is the
// smallest TTL of the answer, clamped to [min_ttl, max_ttl] so that a TTL of 0 cannot turn into
// a query storm and a TTL of a day cannot hide changes for a day. A name that exists with no
// records (or does not exist) is an empty set; a timeout or a bad answer is an error.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { DnsTarget } from '../config/discovery-model.js';
import type { DiscoveredEndpoint, Source, SourceListener } from './source.js';

/** node:dns's resolveSrv gives no TTL; SRV answers are re-polled as if their TTL were this. */
const SRV_ASSUMED_TTL = 30_000;
const EMPTY_CODES = new Set(['ENODATA', 'ENOTFOUND']);

export class DnsSource implements Source {
  readonly description: string;
  private readonly resolver: Resolver;
  private listener: SourceListener | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private erred = false;

  constructor(private readonly target: DnsTarget) {
    const server = target.server ? ` @${target.server.key}` : '';
    this.description = `dns ${target.type} ${target.name}${server}`;
    // A short timeout and few tries: a poll that hangs would only delay noticing the outage.
    this.resolver = new Resolver({ timeout: Math.min(2_000, Math.max(200, target.minTtl)), tries: 2 });
    if (target.server) this.resolver.setServers([target.server.key]);
  }

  async start(listener: SourceListener): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.listener = listener;
    await this.poll();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.listener = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.resolver.cancel();
  }

  private async poll(): Promise<void> {
    let nextMs = this.target.minTtl;
    try {
      const { endpoints, ttlMs } = await this.resolve();
      nextMs = ttlMs;
      if (!this.running) return;
      this.erred = false;
      this.listener?.onEndpoints(endpoints, []);
    } catch (err) {
      if (!this.running) return;
      if (!this.erred) this.listener?.onError(new Error(`${this.description}: ${(err as Error).message}`));
      this.erred = true;
    }
    const delay = Math.min(this.target.maxTtl, Math.max(this.target.minTtl, nextMs));
    this.timer = setTimeout(() => void this.poll(), delay);
    this.timer.unref();
  }

  private async resolve(): Promise<{ endpoints: DiscoveredEndpoint[]; ttlMs: number }> {
    const { type, name, port } = this.target;
    if (type === 'SRV') return { endpoints: await this.resolveSrv(name), ttlMs: SRV_ASSUMED_TTL };
    const records = await this.addresses(name, type);
    const ttl = records.length > 0 ? Math.min(...records.map((r) => r.ttl)) : 0;
    return { endpoints: records.map((r) => ({ host: r.address, port: port! })), ttlMs: ttl * 1000 };
  }

  private async addresses(name: string, type: 'A' | 'AAAA'): Promise<{ address: string; ttl: number }[]> {
    try {
      return type === 'A' ? await this.resolver.resolve4(name, { ttl: true }) : await this.resolver.resolve6(name, { ttl: true });
    } catch (err) {
      if (EMPTY_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  }

  /** SRV semantics: only the lowest priority is used; targets are resolved with the same resolver. */
  private async resolveSrv(name: string): Promise<DiscoveredEndpoint[]> {
    let records;
    try {
      records = await this.resolver.resolveSrv(name);
    } catch (err) {
      if (EMPTY_CODES.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
    if (records.length === 0) return [];
    const best = Math.min(...records.map((r) => r.priority));
    const chosen = records.filter((r) => r.priority === best);
    const resolved = await Promise.all(
      chosen.map(async (r) => {
        const target = r.name.replace(/\.$/, '').toLowerCase();
        const hosts = isIP(target) !== 0 ? [target] : (await this.addresses(target, 'A')).map((a) => a.address);
        // Weight 0 means "rarely" in SRV, but 0 would mean "never" to a balancer.
        const weight = Math.min(1000, Math.max(1, r.weight));
        return hosts.map((host) => ({ host, port: r.port, weight, name: target }));
      }),
    );
    return resolved.flat();
  }
}
