// TLS termination for the builtin data plane. The listening socket stays the pool's plain TCP
// socket (never re-bound for TLS); each accepted connection is wrapped in a server-side TLSSocket
// whose certificate the service's context table chooses by SNI, and once the handshake is done
// the decrypted socket goes where a plain one would (the HTTP frontend, or the tcp proxy).
//
// Tables are built before an apply's swap (a failure rejects the apply with nothing changed) and
// swapped in with it; an unchanged TLS config keeps its table. Ticket keys: set from outside (a
// worker, by its supervisor) or, until they are, held and rotated here (`--workers 0`).
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { ServiceConfig } from '../../../config/model.js';
import { ApplyError, ErrorCodes } from '../../../errors.js';
import type { TlsServiceStatus } from '../../tls-status.js';
import { TlsContextTable } from './context-table.js';
import { TicketKeyRotation, type TicketKeys } from './ticket-keys.js';
import { failureReason, TlsStats } from './tls-stats.js';

/** The decrypted socket of each raw one (worker drains and tcp resets need the pair). */
const secureOf = new WeakMap<Socket, TLSSocket>();
const rawOf = new WeakMap<Socket, Socket>();

/** The TLS socket wrapping an accepted raw one, if it is a TLS connection. */
export function secureSocketOf(raw: Socket): TLSSocket | undefined {
  return secureOf.get(raw);
}

/**
 * A reset passed on to a client: a TLS socket cannot reset (Node throws), its TCP socket can;
 * the TLS socket follows it when it closes.
 */
export function resetAndDestroy(socket: Socket): void {
  const raw = rawOf.get(socket);
  if (raw) {
    raw.resetAndDestroy();
    socket.destroy();
  } else socket.resetAndDestroy();
}

export interface TlsStep {
  /** Swaps the prepared tables in (synchronous, cannot fail). */
  commit(): void;
}

export class TlsTermination {
  private readonly tables = new Map<string, TlsContextTable>();
  private readonly stats = new Map<string, TlsStats>();
  private keys: TicketKeys;
  /** Rotates the keys here until someone else (a supervisor) sets them. */
  private local: TicketKeyRotation | null;
  private readonly readKeys = (): TicketKeys => this.keys;

  constructor() {
    this.local = new TicketKeyRotation((keys) => this.useKeys(keys));
    this.keys = this.local.keys;
  }

  /**
   * Tables for the services named (added or changed), built now; those whose TLS did not change
   * keep theirs. Throws when a context cannot be built (nothing is swapped then).
   */
  prepare(services: readonly ServiceConfig[], removed: readonly string[]): TlsStep {
    const next = new Map<string, TlsContextTable | null>();
    for (const s of services) {
      const had = this.tables.get(s.name);
      if (!s.tls) {
        if (had) next.set(s.name, null);
      } else if (!had || (had.config !== s.tls && had.config.digest !== s.tls.digest)) {
        try {
          next.set(s.name, new TlsContextTable(s.name, s.tls, this.statsOf(s.name), this.readKeys));
        } catch (err) {
          throw new ApplyError(ErrorCodes.DATAPLANE_REJECTED, `config rejected, nothing changed: service ${s.name}: its TLS contexts cannot be built: ${(err as Error).message}`);
        }
      }
    }
    const gone = new Set(removed);
    for (const name of gone) if (this.tables.has(name) || this.stats.has(name)) next.set(name, null);
    return {
      commit: () => {
        for (const [name, table] of next) {
          if (table) this.tables.set(name, table);
          else this.tables.delete(name);
          if (gone.has(name)) this.stats.delete(name);
        }
        if (this.tables.size > 0) this.local?.start();
      },
    };
  }

  /**
   * Wraps an accepted connection of `service` and calls `secured` with the decrypted socket once
   * the handshake is done. A handshake that fails or outlasts timeouts.handshake is counted by
   * reason and the connection closed.
   */
  accept(raw: Socket, service: ServiceConfig, secured: (socket: TLSSocket) => void): void {
    const table = this.tables.get(service.name);
    if (!table) {
      raw.destroy();
      return;
    }
    const stats = table.stats;
    // The handshake's flights and the small answers after it go out at once (as plain connections do).
    raw.setNoDelay(true);
    const socket = new TLSSocket(raw, {
      isServer: true,
      secureContext: table.initial,
      ...(table.single ? {} : { SNICallback: table.sniCallback }),
      ...(table.alpn ? { ALPNProtocols: table.alpn } : {}),
    });
    table.attach(socket);
    secureOf.set(raw, socket);
    rawOf.set(socket, raw);
    new Handshake(socket, stats, service.timeouts.handshake, (s) => {
      table.secured(s);
      secured(s);
    });
  }

  /** The keys to use from now on (a supervisor's); stops the rotation of our own. */
  setTicketKeys(keys: TicketKeys): void {
    this.local?.stop();
    this.local = null;
    this.useKeys(keys);
  }

  /** Rotates the keys held here now (a test, or an operator after a suspected leak); no-op when set from outside. */
  rotateTicketKeys(): void {
    this.local?.rotate();
  }

  private useKeys(keys: TicketKeys): void {
    this.keys = keys;
    for (const table of this.tables.values()) table.ticketKeysChanged(keys);
  }

  statusOf(service: string): TlsServiceStatus | undefined {
    const table = this.tables.get(service);
    return table ? table.stats.status(table.config) : undefined;
  }

  close(): void {
    this.local?.stop();
  }

  private statsOf(name: string): TlsStats {
    let stats = this.stats.get(name);
    if (!stats) this.stats.set(name, (stats = new TlsStats()));
    return stats;
  }
}

/** One handshake in progress: its deadline, its outcome counted once. */
class Handshake {
  private done = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly socket: TLSSocket,
    private readonly stats: TlsStats,
    timeoutMs: number,
    private readonly secured: (socket: TLSSocket) => void,
  ) {
    stats.handshaking++;
    this.timer = setTimeout(() => this.fail('timeout', null), timeoutMs);
    // Stays attached after the handshake: a TLS socket must always have an error listener.
    socket.on('error', (err: NodeJS.ErrnoException) => this.fail(null, err));
    socket.once('close', () => this.fail('closed', null));
    // The listener allows half-open connections, so a client's FIN alone closes nothing; one
    // before the handshake is done means the client gave up: without this its place (and its
    // max_connections share) was held until timeouts.handshake.
    socket.once('end', () => this.fail('closed', null));
    socket.once('secure', () => this.succeed());
  }

  private succeed(): void {
    if (this.done) return;
    this.finish();
    this.stats.completed(this.socket.getProtocol() ?? 'unknown', this.socket.isSessionReused());
    this.secured(this.socket);
  }

  private fail(reason: string | null, err: NodeJS.ErrnoException | null): void {
    if (this.done) return;
    this.finish();
    this.stats.failed(reason ?? failureReason(err));
    this.socket.destroy();
  }

  private finish(): void {
    this.done = true;
    this.stats.handshaking--;
    clearTimeout(this.timer);
  }
}
