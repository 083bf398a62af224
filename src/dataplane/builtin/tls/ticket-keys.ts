// Session ticket keys: what lets a client resume a TLS session (skip the full handshake) on any
// process that has the same keys. One set per hitless: the supervisor holds it and sends it to
// every worker and to the next generation after a code upgrade; `--workers 0` holds its own.
//
// Three keys, each 48 bytes (16 name, 16 HMAC secret, 16 AES key, Node's layout): `current`
// encrypts new tickets; `previous` still decrypts (the ticket is then renewed under `current`);
// `next` decrypts too. A rotation makes next current and current previous, so a worker that
// receives a rotation a moment after another already decrypts the tickets the other issues.
import { randomBytes } from 'node:crypto';

export const TICKET_KEY_BYTES = 48;
/** How often the keys rotate: a ticket stays decryptable for one to two periods. */
export const TICKET_ROTATION_MS = 3_600_000;

export interface TicketKeys {
  readonly current: Uint8Array;
  readonly previous: Uint8Array | null;
  readonly next: Uint8Array;
}

export function freshTicketKeys(): TicketKeys {
  return { current: randomBytes(TICKET_KEY_BYTES), previous: null, next: randomBytes(TICKET_KEY_BYTES) };
}

export function rotated(keys: TicketKeys): TicketKeys {
  return { previous: keys.current, current: keys.next, next: randomBytes(TICKET_KEY_BYTES) };
}

/** Whether `keys` is a usable set (it may have crossed IPC). */
export function validTicketKeys(keys: unknown): keys is TicketKeys {
  const k = keys as TicketKeys | null;
  const ok = (b: unknown) => b instanceof Uint8Array && b.length === TICKET_KEY_BYTES;
  return typeof k === 'object' && k !== null && ok(k.current) && ok(k.next) && (k.previous === null || ok(k.previous));
}

/**
 * The keys, rotating every `periodMs` and telling `onRotate` (the supervisor sends them to its
 * workers). The timer does not keep the process alive.
 */
export class TicketKeyRotation {
  private value = freshTicketKeys();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly onRotate: (keys: TicketKeys) => void,
    private readonly periodMs = TICKET_ROTATION_MS,
  ) {}

  get keys(): TicketKeys {
    return this.value;
  }

  /** Starts the schedule (idempotent). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.rotate(), this.periodMs);
    this.timer.unref();
  }

  rotate(): TicketKeys {
    this.value = rotated(this.value);
    this.onRotate(this.value);
    return this.value;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
