// Endpoint changes through the runtime API, with no reload: add, reweight, and drain-then-delete.
// HAProxy 2.6 limits: `add server` needs a dynamic balance algorithm (roundrobin, leastconn,
// random, consistent hashing; not map-based `balance source`), does not resolve host names
// (init-addr none), starts the server in maintenance with checks off (so we enable both), and
// `del server` needs the server in maintenance with no connection left, idle ones included.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../observability/log.js';
import type { BackendSpec, RenderedConfig, ServerSpec } from './render-config.js';
import type { WorkerApi } from './runtime-api.js';

const POLL_MS = 100;
const DELETE_TRIES = 50;

/** The server-level changes from `current` to `next`, or why they need a reload instead. */
export interface ServerDiff {
  readonly add: ReadonlyArray<{ backend: BackendSpec; server: ServerSpec }>;
  readonly reweight: ReadonlyArray<{ backend: BackendSpec; server: ServerSpec }>;
  readonly remove: ReadonlyArray<{ backend: BackendSpec; server: ServerSpec }>;
}

export function diffServers(current: RenderedConfig, next: RenderedConfig): ServerDiff | string {
  if (current.skeleton !== next.skeleton) return 'listeners, routes, timeouts or balance changed';
  const add: Array<{ backend: BackendSpec; server: ServerSpec }> = [];
  const reweight: Array<{ backend: BackendSpec; server: ServerSpec }> = [];
  const remove: Array<{ backend: BackendSpec; server: ServerSpec }> = [];
  for (const backend of next.backends.values()) {
    const old = current.backends.get(backend.name);
    if (!old) return `backend ${backend.name} is new`;
    // Check settings of existing servers cannot be changed at runtime in 2.6.
    if (old.serverOptions !== backend.serverOptions) return `server settings (health, TLS) of ${backend.name} changed`;
    const changed = old.servers.size !== backend.servers.size || [...backend.servers.values()].some((s) => old.servers.get(s.name)?.weight !== s.weight);
    if (!changed) continue;
    for (const server of backend.servers.values()) {
      const was = old.servers.get(server.name);
      if (!was) {
        if (!server.literal) return `endpoint ${server.endpoint} is a host name (runtime servers are never resolved)`;
        add.push({ backend, server });
      } else if (was.weight !== server.weight) reweight.push({ backend, server });
    }
    for (const server of old.servers.values()) if (!backend.servers.has(server.name)) remove.push({ backend: old, server });
  }
  return { add, reweight, remove };
}

interface Removal {
  cancelled: boolean;
  /** Past the point of no return (maint / del sent): a re-add waits for it, then adds anew. */
  deleting: boolean;
  done: Promise<void>;
}

const OK_ADD = (a: string) => a.includes('New server registered');
const OK_DEL = (a: string) => a.includes('Server deleted');

export class RuntimeChanger {
  private readonly removals = new Map<string, Removal>();
  /** Commands sent since start, and servers left in maintenance because they never emptied. */
  commands = 0;
  stuck = 0;

  constructor(
    private readonly api: WorkerApi,
    private readonly log: Logger,
  ) {}

  get draining(): number {
    return this.removals.size;
  }

  /** "backend/server" of every server being drained for deletion. */
  removing(): ReadonlySet<string> {
    return new Set(this.removals.keys());
  }

  /** Applies `diff`; any error leaves the caller to converge with a reload. */
  async apply(diff: ServerDiff): Promise<void> {
    for (const { backend, server } of diff.add) await this.add(backend, server);
    for (const { backend, server } of diff.reweight) await this.run(`set server ${id(backend, server)} weight ${server.weight}`);
    for (const { backend, server } of diff.remove) this.startRemoval(backend, server);
  }

  /** An operator's admin state for a server ("backend/server"): an endpoint override (overrides.ts). */
  setState(server: string, state: 'ready' | 'drain' | 'maint'): Promise<void> {
    return this.run(`set server ${server} state ${state}`);
  }

  /** After a reload the old worker owns the draining servers; the new one never had them. */
  forgetRemovals(): void {
    for (const r of this.removals.values()) r.cancelled = true;
    this.removals.clear();
  }

  private async run(command: string, ok?: (answer: string) => boolean): Promise<void> {
    this.commands++;
    await this.api.run(command, ok);
  }

  private async add(backend: BackendSpec, server: ServerSpec): Promise<void> {
    const key = id(backend, server);
    const removal = this.removals.get(key);
    if (removal && !removal.deleting) {
      // Still draining: bring the very same server back instead of adding a twin.
      removal.cancelled = true;
      this.removals.delete(key);
      await this.run(`set server ${key} weight ${server.weight}`);
      await this.run(`set server ${key} state ready`);
      return;
    }
    if (removal) await removal.done;
    const options = backend.serverOptions ? ` ${backend.serverOptions}` : '';
    const tls = server.tlsOptions ? ` ${server.tlsOptions}` : '';
    await this.run(`add server ${key} ${server.address} weight ${server.weight}${options}${tls}`, OK_ADD);
    // The `check` keyword itself: passed-through options (check-ssl, check-sni) contain the word too.
    if (/(^| )check( |$)/.test(backend.serverOptions)) await this.run(`enable health ${key}`);
    await this.run(`enable server ${key}`);
  }

  private startRemoval(backend: BackendSpec, server: ServerSpec): void {
    const key = id(backend, server);
    const removal: Removal = { cancelled: false, deleting: false, done: Promise.resolve() };
    removal.done = this.remove(key, backend, removal).catch((err: Error) => {
      this.log.warn({ server: key, err: err.message }, 'haproxy: server removal did not complete');
    });
    this.removals.set(key, removal);
  }

  /** Drain (no new traffic), wait for the sessions to end within the drain timeout, then delete. */
  private async remove(key: string, backend: BackendSpec, removal: Removal): Promise<void> {
    try {
      await this.run(`set server ${key} state drain`);
      const deadline = Date.now() + backend.drainMs;
      while (!removal.cancelled && Date.now() < deadline && (await this.sessions(backend.name, key)) > 0) await sleep(POLL_MS);
      if (removal.cancelled) return;
      removal.deleting = true;
      await this.run(`set server ${key} state maint`);
      await this.run(`shutdown sessions server ${key}`);
      for (let i = 0; i < DELETE_TRIES; i++) {
        // Idle pooled connections are released asynchronously after maint; retry until they are.
        const answer = await this.api.raw(`del server ${key}`);
        this.commands++;
        if (OK_DEL(answer)) return;
        await sleep(POLL_MS);
      }
      this.stuck++;
      throw new Error(`del server kept failing; the server stays in maintenance until the next reload`);
    } finally {
      if (this.removals.get(key) === removal) this.removals.delete(key);
    }
  }

  private async sessions(backend: string, key: string): Promise<number> {
    const name = key.slice(backend.length + 1);
    const rows = await this.api.showStat(`${backend} 4 -1`);
    const row = rows.find((r) => r.svname === name);
    return row ? Number(row.scur) || 0 : 0;
  }
}

function id(backend: BackendSpec, server: ServerSpec): string {
  return `${backend.name}/${server.name}`;
}
