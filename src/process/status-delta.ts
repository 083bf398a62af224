// A worker's status replies as deltas of the previous reply. Node's IPC moves about 30-100 MB/s
// between two busy processes: a full status of 10,000 endpoints (~1 MB packed) took 7-30 ms per
// worker, on every status request and every poll. Most endpoints do not change between two polls,
// so a reply sends, per service, only the endpoints whose numbers changed, and the addresses only
// when the list itself changed.
//
// The supervisor says which reply it holds (`have`: its sequence number); the worker answers with
// a delta from exactly that reply, or with the whole status when it does not remember it (the
// supervisor missed a reply, or this is the first). A delta names its base, and the supervisor
// applies it only to that base, so a lost or late reply costs one whole status, never a wrong one.
import type { PackedDataplane, PackedEndpoints, PackedService } from '../dataplane/builtin/packed-status.js';
import { STRIDE } from '../dataplane/builtin/packed-status.js';

/** One service's endpoints in a delta: all of them, or the changed ones of the same list. */
type EndpointsDelta =
  | { readonly whole: PackedEndpoints }
  /** Endpoint positions whose numbers changed, and their STRIDE numbers each. */
  | { readonly changed: Uint32Array; readonly numbers: Float64Array };

export interface StatusDelta {
  readonly seq: number;
  /** The reply this one is a delta of; null: whole, no base. */
  readonly base: number | null;
  readonly driver: string;
  readonly services: ReadonlyArray<Omit<PackedService, 'endpoints'> & { readonly endpoints: EndpointsDelta }>;
  readonly listeners: PackedDataplane['listeners'];
}

/** Worker side: remembers its last reply. */
export class StatusEncoder {
  private seq = 0;
  private last: Map<string, PackedEndpoints> | null = null;

  encode(status: PackedDataplane, have: number | null): StatusDelta {
    const base = have !== null && have === this.seq && this.last ? this.last : null;
    const services = status.services.map((s) => {
      const before = base?.get(s.name);
      return { ...s, endpoints: before && before.addresses === s.endpoints.addresses && sameRuns(before, s.endpoints) ? changes(before, s.endpoints) : { whole: s.endpoints } };
    });
    this.last = new Map(status.services.map((s) => [s.name, s.endpoints]));
    return { seq: ++this.seq, base: base ? have : null, driver: status.driver, services, listeners: status.listeners };
  }
}

/** Supervisor side, one per worker: the whole status its replies add up to. */
export class StatusDecoder {
  private seq: number | null = null;
  private current: PackedDataplane | null = null;

  /** The reply the next request may ask a delta of. */
  get have(): number | null {
    return this.seq;
  }

  /** The whole status after `delta`; null when it is not a delta of what is held (then the next reply is whole). */
  decode(delta: StatusDelta): PackedDataplane | null {
    const held = delta.base === null ? null : delta.base === this.seq ? this.current : undefined;
    if (held === undefined) {
      this.reset();
      return null;
    }
    const before = new Map(held?.services.map((s) => [s.name, s.endpoints]) ?? []);
    const services: PackedService[] = [];
    for (const s of delta.services) {
      const { endpoints, ...rest } = s;
      if ('whole' in endpoints) {
        services.push({ ...rest, endpoints: endpoints.whole });
        continue;
      }
      const was = before.get(s.name);
      if (!was) {
        this.reset();
        return null;
      }
      services.push({ ...rest, endpoints: patched(was, endpoints) });
    }
    this.current = { driver: delta.driver, services, listeners: delta.listeners };
    this.seq = delta.seq;
    return this.current;
  }

  /** Forgets what is held: the next reply is whole. */
  reset(): void {
    this.seq = null;
    this.current = null;
  }
}

function sameRuns(a: PackedEndpoints, b: PackedEndpoints): boolean {
  return a.clusters.length === b.clusters.length && a.clusters.every((c, i) => c === b.clusters[i]);
}

/** The endpoints of `now` whose numbers differ from `before` (same list). */
function changes(before: PackedEndpoints, now: PackedEndpoints): EndpointsDelta {
  const positions: number[] = [];
  const a = before.numbers;
  const b = now.numbers;
  for (let i = 0, at = 0; at < b.length; i++, at += STRIDE) {
    for (let k = 0; k < STRIDE; k++) {
      if (a[at + k] !== b[at + k]) {
        positions.push(i);
        break;
      }
    }
  }
  const numbers = new Float64Array(positions.length * STRIDE);
  positions.forEach((i, j) => numbers.set(b.subarray(i * STRIDE, (i + 1) * STRIDE), j * STRIDE));
  return { changed: Uint32Array.from(positions), numbers };
}

/** `was` with the changed endpoints' numbers replaced (a copy: earlier statuses stay as they were). */
function patched(was: PackedEndpoints, delta: { readonly changed: Uint32Array; readonly numbers: Float64Array }): PackedEndpoints {
  const numbers = new Float64Array(was.numbers);
  delta.changed.forEach((i, j) => numbers.set(delta.numbers.subarray(j * STRIDE, (j + 1) * STRIDE), i * STRIDE));
  return { ...was, numbers };
}
