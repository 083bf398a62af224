// The endpoint overrides an operator set (hitless endpoint drain|maint|ready|weight), with who
// set them and when: the source of the table every data plane runs with (endpoint-override.ts).
// Entries change only through change() and clear(); nothing here expires or clears one.
import { parseHostPort } from '../config/address.js';
import { serviceNameSchema } from '../config/schema.js';
import { ADMIN_STATES, type AdminState, type EndpointOverride, type OverrideTable } from '../dataplane/endpoint-override.js';

export interface OverrideRecord extends EndpointOverride {
  readonly service: string;
  /** Canonical "host:port" (IPv6 in brackets), as endpoint keys are written. */
  readonly address: string;
  /** When this override last changed (ISO 8601). */
  readonly since: string;
  /** Who changed it last: the admin client's name when it gave one, and its peer address. */
  readonly by: string;
}

/** What one request changes: `state` "ready" clears the state part, `weight` null the weight part. */
export interface OverrideChange {
  readonly state?: AdminState | 'ready';
  readonly weight?: number | null;
}

export const MAX_WEIGHT = 1000;
/** A cap on entries, so that a script gone wrong cannot grow the table (and its state file) without bound. */
export const MAX_OVERRIDES = 10_000;
const MAX_BY_CHARS = 200;

export type Checked<T> = { ok: true; value: T } | { ok: false; field: string; reason: string };

export function checkService(value: unknown): Checked<string> {
  if (typeof value !== 'string' || value.length === 0) return { ok: false, field: 'service', reason: 'expected a service name' };
  if (value.length > 200 || !serviceNameSchema.safeParse(value).success) {
    return { ok: false, field: 'service', reason: `"${printable(value)}" is not a service name (letters, digits, ".", "_" and "-")` };
  }
  return { ok: true, value };
}

/** "host:port" or "[v6]:port", in the canonical form endpoint keys use. */
export function checkAddress(value: unknown): Checked<string> {
  if (typeof value !== 'string' || value.length === 0) return { ok: false, field: 'address', reason: 'expected an endpoint address "host:port"' };
  if (value.length > 300) return { ok: false, field: 'address', reason: `"${printable(value)}" is too long for an endpoint address` };
  const parsed = parseHostPort(value);
  if (!parsed.ok) return { ok: false, field: 'address', reason: `"${printable(value)}": ${parsed.reason}` };
  return { ok: true, value: parsed.value.key };
}

/** A whole number 0-1000, as a JSON number (or, from a command line or URL, its decimal digits). */
export function checkWeight(value: unknown): Checked<number> {
  const n = typeof value === 'string' && /^\d{1,4}$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_WEIGHT) {
    return { ok: false, field: 'weight', reason: `expected a whole number 0-${MAX_WEIGHT}, found ${printable(JSON.stringify(value) ?? String(value))}` };
  }
  return { ok: true, value: n };
}

export function checkState(value: unknown): Checked<AdminState | 'ready'> {
  if (value === 'ready' || ADMIN_STATES.includes(value as AdminState)) return { ok: true, value: value as AdminState | 'ready' };
  return { ok: false, field: 'state', reason: `expected one of "ready", "drain", "maint", found ${printable(JSON.stringify(value) ?? String(value))}` };
}

/** A caller's own name for itself (CLI: user@host), kept short and printable. */
export function cleanBy(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const text = value.replace(/[^\x20-\x7e]/g, '').trim().slice(0, MAX_BY_CHARS);
  return text === '' ? null : text;
}

/** Hostile text, shortened and without control characters, for an error message. */
export function printable(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 80 ? `${clean.slice(0, 80)}...` : clean;
}

export class OverrideStore {
  private readonly records = new Map<string, OverrideRecord>();

  get size(): number {
    return this.records.size;
  }

  get(service: string, address: string): OverrideRecord | undefined {
    return this.records.get(keyOf(service, address));
  }

  /** Every override, by service then address. */
  list(): OverrideRecord[] {
    return [...this.records.values()].sort((a, b) => (a.service === b.service ? compare(a.address, b.address) : compare(a.service, b.service)));
  }

  /**
   * Applies `change` on top of the current override (if any); returns the override now in force,
   * or null when nothing is left of it (state ready and no weight): the entry is then removed.
   */
  change(service: string, address: string, change: OverrideChange, by: string, at: Date): OverrideRecord | null {
    const key = keyOf(service, address);
    const before = this.records.get(key);
    const state = change.state === undefined ? (before?.state ?? null) : change.state === 'ready' ? null : change.state;
    const weight = change.weight === undefined ? (before?.weight ?? null) : change.weight;
    if (state === null && weight === null) {
      this.records.delete(key);
      return null;
    }
    if (before && before.state === state && before.weight === weight) return before;
    const record: OverrideRecord = Object.freeze({ service, address, state, weight, since: at.toISOString(), by });
    this.records.set(key, record);
    return record;
  }

  /** Removes the override; false when there was none. */
  clear(service: string, address: string): boolean {
    return this.records.delete(keyOf(service, address));
  }

  /** Puts back a record exactly as it was (an undo, or the state file at start). */
  restore(record: OverrideRecord): void {
    this.records.set(keyOf(record.service, record.address), record);
  }

  /** The table the data planes run with. */
  table(): OverrideTable {
    const table = new Map<string, Map<string, { state: AdminState | null; weight: number | null }>>();
    for (const r of this.records.values()) {
      let entries = table.get(r.service);
      if (!entries) table.set(r.service, (entries = new Map()));
      entries.set(r.address, { state: r.state, weight: r.weight });
    }
    return table;
  }
}

function keyOf(service: string, address: string): string {
  return `${service}\u0000${address}`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
