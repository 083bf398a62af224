// The invariant harness for HTTP request smuggling and response poisoning (issue 13, DESIGN.md
// invariant 8). It does not check cases one by one against expected answers: it checks, for every
// generated case, invariants that must hold whatever the attacker or an endpoint sends.
//
// Set-up: hitless (current src/) in front of four logging endpoints (smuggle-endpoint.ts), one per
// cluster, one endpoint each, so that every request to a cluster shares that endpoint's pool of
// connections. Victim clients send normal keep-alive requests to every cluster while an attacker
// connection sends a generated case (smuggle-corpus.ts); the endpoints answer each request with
// the id it carries (and answer the attacker's primary request maliciously when the case says so).
//
// Invariants (a failure names one):
//  I1 every response a client receives is its own: a victim gets exactly the response carrying its
//     own id, and no client's bytes ever name another client's id or an evil endpoint's extra bytes;
//  I2 the endpoint never parses a request that hitless did not route: each has a known id not seen
//     before, carries the forwarding headers hitless adds, and arrived at the cluster the route
//     table gives for it as the endpoint reads it (Host, or the absolute-form authority); bytes that
//     are no request at all are a desync;
//  I3 each request at the endpoint has one framing (not CL and TE, not two CL, TE only "chunked")
//     and exactly one Host, matching an absolute-form authority if there is one; no h2c upgrade
//     reaches an endpoint (hitless speaks no HTTP/2, so it cannot route what follows a 101 h2c);
//  I4 the attacker's connection gets no more responses than it sent requests, never an endpoint's
//     unsolicited response as one of its own, and no response merged into another's body.
// Warnings (counted, not failures): a victim answered by hitless itself (502/503/504), a victim
// request that timed out or whose connection closed, an idempotent request sent again after its
// endpoint connection failed (a retry), and an evil endpoint's unsolicited bytes that the endpoint
// wrote only after the receiving client had written its request (they crossed it on the wire: no
// proxy can tell them from the answer; bytes written before the request are never excused).
//
// Cases run on concurrent lanes; a failure names the case to blame (the evil answer's case, the
// case whose request was smuggled, or the last attack case on the endpoint connection), and
// replayAlone() tells whether a case fails on its own.
import { appendFileSync } from 'node:fs';
import { markerOf, CLUSTERS, route, show, type ClusterName, type EvilMode, type SmuggleCase } from './smuggle-corpus.js';
import { attack, Victim, type AttackResult, type VictimHost, type VictimOutcome } from './smuggle-clients.js';
import { headerValues, LoggingEndpoint, type EndpointProblem, type EndpointRequest } from './smuggle-endpoint.js';
import { haproxyVersion, startHaproxy, startHitless, type ProxyProcess } from './smuggle-processes.js';
import { echoedIds, header, readStream } from './smuggle-wire.js';

export type FailureClass = 'I1 cross-client' | 'I1 victim-bad-response' | 'I2 unrouted' | 'I3 framing' | 'I4 attacker-responses';
export type WarningClass = 'victim-error' | 'victim-timeout' | 'late-race' | 'victim-closed' | 'retried';

export interface Failure {
  readonly cls: FailureClass;
  readonly sub: string;
  /** The case to blame, when it can be told. */
  readonly culprit: SmuggleCase | null;
  /** Cases running around that time, when the culprit cannot be told. */
  readonly suspects: readonly number[];
  readonly detail: string;
}

type Owner =
  | { kind: 'attack'; c: SmuggleCase }
  | { kind: 'marker'; c: SmuggleCase }
  | { kind: 'victim'; victim: number; cluster: ClusterName; target: string; host: string };

interface CaseRun {
  readonly c: SmuggleCase;
  readonly started: number;
  ended: number | null;
  /** Called on every endpoint event for this case (the attacker's quiet timer restarts). */
  touch: (() => void) | null;
}

export interface HarnessOptions {
  readonly victims?: number;
  /** The attacker is done after this long without any byte or endpoint event. */
  readonly quietMs?: number;
  /** And in any case after this long. */
  readonly hardMs?: number;
  /** Append each distinct failure here (markdown), as soon as it is found. */
  readonly findingsFile?: string | null;
  /** Start HAProxy for the differential check (if installed). */
  readonly haproxy?: boolean;
  readonly log?: (line: string) => void;
}

export interface DifferentialResult {
  readonly c: SmuggleCase;
  /** Slots (indexes into c.ids) each proxy forwarded (at least the head reached the endpoint). */
  readonly hitless: readonly number[];
  readonly haproxy: readonly number[];
  /** Of hitless's, those whose request never arrived whole (the head went, then hitless gave up). */
  readonly hitlessHeadOnly: readonly number[];
  /** HAProxy's first status line to the attacker (or "closed"/"silent"). */
  readonly haproxyAnswer: string;
  readonly hitlessAnswer: string;
}

const FORWARDED_BY_HITLESS = /for=("\[)?127\.0\.0\.1/;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export class SmuggleHarness implements VictimHost {
  readonly failures: Failure[] = [];
  readonly warnings = new Map<WarningClass, number>();
  readonly warningExamples = new Map<WarningClass, string[]>();
  readonly differential: DifferentialResult[] = [];
  cases = 0;
  casesByShape = { raw: 0, node: 0 };
  victimRequests = 0;
  endpointRequests = 0;
  haproxyCases = 0;
  haproxyNote = '';
  private readonly owners = new Map<string, Owner>();
  /** Ids parsed by an endpoint behind hitless: where. */
  private readonly seen = new Map<string, EndpointRequest>();
  /** Ids parsed by an endpoint behind HAProxy. */
  private readonly seenHaproxy = new Map<string, EndpointRequest>();
  private readonly runs = new Map<number, CaseRun>();
  private readonly haproxyRuns = new Map<number, CaseRun>();
  private readonly active = new Set<CaseRun>();

  get activeCases(): number {
    return this.active.size;
  }
  private readonly reported = new Set<string>();
  /** Ids the endpoints parsed without the headers hitless adds: smuggled past hitless. */
  private readonly smuggled = new Set<string>();
  /** When the endpoints wrote the bytes naming an id (its answer, or an evil marker's bytes). */
  private readonly answeredAt = new Map<string, number>();
  /** When a client wrote the request with this id. */
  private readonly writtenAt = new Map<string, number>();
  /** Requests whose client got an evil endpoint's unsolicited bytes as their answer, in a race. */
  private readonly raced = new Set<string>();
  private pendingCross: Array<{ due: number; requests: readonly string[]; foreign: string; sub: string; fallback: SmuggleCase | null; note: string }> = [];
  private endpoints = new Map<ClusterName, LoggingEndpoint>();
  private haproxyEndpoints = new Map<ClusterName, LoggingEndpoint>();
  hitless!: ProxyProcess;
  haproxy: ProxyProcess | null = null;
  private victims: Victim[] = [];
  private readonly quietMs: number;
  private readonly hardMs: number;
  private readonly log: (line: string) => void;

  constructor(private readonly options: HarnessOptions = {}) {
    this.quietMs = options.quietMs ?? 200;
    this.hardMs = options.hardMs ?? 3_000;
    this.log = options.log ?? ((line) => console.log(line));
  }

  // ---- life cycle ----

  async start(): Promise<void> {
    for (const c of CLUSTERS) {
      const e = new LoggingEndpoint(c, {
        onRequest: (req, history) => this.onEndpointRequest(req, history),
        onProblem: (p) => this.onEndpointProblem(p),
        onTunnelBytes: (cluster, owner, bytes) => this.onTunnelBytes(cluster, owner, bytes),
        evilFor: (id) => this.evilFor(id),
        onWritten: (ids, at) => {
          for (const id of ids) if (!this.answeredAt.has(id)) this.answeredAt.set(id, at);
        },
      });
      await e.start();
      this.endpoints.set(c, e);
    }
    this.hitless = await startHitless(this.addresses(this.endpoints));
    if (this.options.haproxy) {
      const version = haproxyVersion();
      if (version === null) this.haproxyNote = 'HAProxy differential skipped: haproxy is not installed (apt-get install haproxy)';
      else {
        for (const c of CLUSTERS) {
          const e = new LoggingEndpoint(c, {
            onRequest: (req) => {
              if (req.id !== null && !this.seenHaproxy.has(req.id)) this.seenHaproxy.set(req.id, req);
              if (req.id !== null) this.haproxyRuns.get(parseInt(req.id.slice(1, 9), 36))?.touch?.();
            },
            onProblem: () => {},
            evilFor: () => null,
          });
          await e.start();
          this.haproxyEndpoints.set(c, e);
        }
        this.haproxy = await startHaproxy(this.addresses(this.haproxyEndpoints));
        this.haproxyNote = `HAProxy differential against ${version}`;
      }
    }
    const count = this.options.victims ?? 4;
    for (let i = 0; i < count; i++) {
      // The last victim speaks to node:http (its first request is a chunked upload), the others
      // stay on the raw HTTP/1.1 path.
      const v = new Victim(this, i, this.hitless.port, i === count - 1 && count > 1 ? 'node' : 'raw');
      this.victims.push(v);
      void v.run();
    }
    // Warm pools: every cluster has idle pooled connections before the first case.
    this.kickVictims(CLUSTERS.length);
    await this.victimsIdle();
  }

  async stop(): Promise<void> {
    for (const v of this.victims) v.stop();
    await this.hitless?.stop();
    await this.haproxy?.stop();
    for (const e of [...this.endpoints.values(), ...this.haproxyEndpoints.values()]) await e.close();
  }

  private addresses(m: Map<ClusterName, LoggingEndpoint>): Record<ClusterName, string> {
    return Object.fromEntries([...m].map(([c, e]) => [c, e.address])) as Record<ClusterName, string>;
  }

  // ---- ids ----

  register(id: string, owner: Owner): void {
    this.owners.set(id, owner);
  }

  private evilFor(id: string): EvilMode | null {
    const o = this.owners.get(id);
    return o?.kind === 'attack' && o.c.primary === id ? o.c.evil : null;
  }

  // ---- failures ----

  private suspects(): number[] {
    const now = performance.now();
    return [...this.runs.values()].filter((r) => r.ended === null || now - r.ended < 1_000).map((r) => r.c.seed).slice(-12);
  }

  /** The attack case that last used an endpoint connection before `history`'s end. */
  private culpritFromHistory(history: readonly string[]): SmuggleCase | null {
    for (let i = history.length - 1; i >= 0; i--) {
      const o = this.owners.get(history[i]);
      if (o !== undefined && o.kind !== 'victim') return o.c;
    }
    return null;
  }

  fail(cls: FailureClass, sub: string, culprit: SmuggleCase | null, detail: string): void {
    const f: Failure = { cls, sub, culprit, suspects: culprit === null ? this.suspects() : [], detail };
    this.failures.push(f);
    const key = `${cls} / ${sub} / ${culprit ? `${culprit.family} / ${culprit.shape}-shaped` : 'unattributed'}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    const text = describeFailure(f);
    this.log(`FAILURE ${text.split('\n')[0]}`);
    if (this.options.findingsFile) {
      try {
        appendFileSync(this.options.findingsFile, `\n### ${key}\n\n${text.split('\n').slice(1).join('\n')}\n`);
      } catch {
        /* the findings file is a convenience */
      }
    }
  }

  warn(cls: WarningClass, example: string): void {
    this.warnings.set(cls, (this.warnings.get(cls) ?? 0) + 1);
    const list = this.warningExamples.get(cls) ?? [];
    if (list.length < 3) list.push(example);
    this.warningExamples.set(cls, list);
  }

  // ---- the endpoint side (I2, I3) ----

  private onEndpointRequest(req: EndpointRequest, history: readonly string[]): void {
    this.endpointRequests++;
    const where = `${req.cluster} endpoint, connection ${req.conn} request ${req.seq}; head as received: ${show(req.raw, 800)}`;
    const id = req.id;
    const owner = id === null ? undefined : this.owners.get(id);
    const culprit = owner !== undefined && owner.kind !== 'victim' ? owner.c : this.culpritFromHistory(history);
    if (owner !== undefined && owner.kind !== 'victim') this.runs.get(owner.c.seed)?.touch?.();
    // I3: one framing, one Host.
    const cl = headerValues(req.headers, 'content-length');
    const te = headerValues(req.headers, 'transfer-encoding');
    const hosts = headerValues(req.headers, 'host');
    if (cl.length > 0 && te.length > 0) this.fail('I3 framing', 'content-length with transfer-encoding', culprit, where);
    if (cl.length > 1) this.fail('I3 framing', 'more than one content-length', culprit, where);
    if (te.length > 0 && te.join(',').trim().toLowerCase() !== 'chunked') this.fail('I3 framing', 'transfer-encoding other than chunked', culprit, where);
    if (hosts.length !== 1) this.fail('I3 framing', hosts.length === 0 ? 'no Host header' : 'more than one Host header', culprit, where);
    const absolute = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(req.target);
    const authority = absolute === null ? null : absolute[1].replace(/^.*@/, '');
    if (authority !== null && hosts.length === 1 && authority.toLowerCase() !== hosts[0].toLowerCase()) this.fail('I3 framing', 'Host differs from the absolute-form authority', culprit, where);
    const upgrade = headerValues(req.headers, 'upgrade').join(',');
    if (/h2c/i.test(upgrade) && /upgrade/i.test(headerValues(req.headers, 'connection').join(','))) this.fail('I3 framing', 'h2c upgrade forwarded to an endpoint', culprit, where);
    // I2: a request hitless routed.
    if (id === null) return this.fail('I2 unrouted', 'request without an id', culprit, where);
    if (owner === undefined) return this.fail('I2 unrouted', 'request with an id no client sent', culprit, where);
    if (owner.kind === 'marker') return this.fail('I2 unrouted', "an endpoint's own response bytes parsed as a request", culprit, where);
    const before = this.seen.get(id);
    if (before !== undefined) {
      // A retry: hitless may send an idempotent request again when its connection failed before
      // any answer (RFC 9110 §9.2.2); anything else parsed twice was not routed twice by hitless.
      const detail = `${where}; first seen at ${before.cluster} endpoint connection ${before.conn} request ${before.seq}`;
      if (IDEMPOTENT.has(req.method) && req.method === before.method && req.target === before.target) return this.warn('retried', detail);
      return this.fail('I2 unrouted', 'the same request parsed twice', culprit, detail);
    }
    this.seen.set(id, req);
    const forwarded = [...headerValues(req.headers, 'forwarded'), ...headerValues(req.headers, 'x-forwarded-for').map((v) => `for=${v.split(',').pop()!.trim()}`)];
    if (!forwarded.some((v) => FORWARDED_BY_HITLESS.test(v))) this.smuggled.add(id);
    if (!forwarded.some((v) => FORWARDED_BY_HITLESS.test(v))) this.fail('I2 unrouted', 'request without the forwarding headers hitless adds (smuggled past its parser)', culprit, where);
    const path = absolute === null ? req.target : absolute[2] || '/';
    const host = authority ?? hosts[0];
    const expected = route(host, path);
    if (expected !== req.cluster) this.fail('I2 unrouted', 'arrived at a cluster its route (Host or authority, and path) does not give', culprit, `route says ${expected}; ${where}`);
    if (owner.kind === 'victim' && (owner.target !== req.target || owner.host !== hosts[0] || owner.cluster !== req.cluster || req.method !== 'GET' && req.method !== 'POST')) {
      this.fail('I2 unrouted', "a victim's request arrived altered", culprit, `${where}; sent ${owner.target} Host ${owner.host} to ${owner.cluster}`);
    }
  }

  private onEndpointProblem(p: EndpointProblem): void {
    const culprit = this.culpritFromHistory(p.history);
    this.fail('I2 unrouted', `bytes at the endpoint that are no request (${p.reason.replace(/ ".*$/, '').replace(/ \[.*$/, '')})`, culprit, `${p.cluster} endpoint, connection ${p.conn}: ${p.reason}; bytes: ${show(p.bytes, 600)}; earlier requests on that connection: ${p.history.slice(-4).join(', ') || 'none'}`);
  }

  private onTunnelBytes(cluster: ClusterName, ownerId: string | null, bytes: Buffer): void {
    const owner = ownerId === null ? undefined : this.owners.get(ownerId);
    const ownCase = owner !== undefined && owner.kind !== 'victim' ? owner.c : null;
    for (const m of bytes.toString('latin1').matchAll(/\/r\/([a-z][0-9a-z]{9})/g)) {
      const o = this.owners.get(m[1]);
      if (o?.kind !== 'victim') continue;
      const sub = "a victim's request went into another client's tunnel";
      const note = `${cluster} endpoint tunnel of ${ownerId}: ${show(bytes, 400)}`;
      // Judged with the other misdeliveries (settle): the tunnel's owner may have taken an evil
      // endpoint's bytes for its answer in a race no proxy can win (they crossed its request on
      // the wire), so that the endpoint's 101 for it then crossed this request on the wire too.
      if (ownerId !== null) this.crossClient([m[1]], ownerId, sub, ownCase, note);
      else this.fail('I1 cross-client', sub, ownCase, note);
    }
  }

  // ---- the victim side (I1) ----

  victimResult(victim: Victim, id: string, cluster: ClusterName, outcome: VictimOutcome): void {
    this.victimRequests++;
    if (outcome.kind === 'ok') return;
    const bytes = outcome.bytes;
    const foreign = echoedIds(bytes).filter((x) => x !== id);
    const note = `victim ${victim.index} (${victim.path} path) asked ${cluster} for ${id}; received ${show(bytes, 700)}`;
    if (foreign.length > 0) {
      const o = this.owners.get(foreign[0]);
      const what = o?.kind === 'marker' ? "an endpoint's unsolicited bytes (meant for no one)" : o?.kind === 'attack' ? "the attacker's response" : o?.kind === 'victim' ? "another victim's response" : 'an unknown response';
      this.crossClient([id], foreign[0], `a victim received ${what}`, null, note);
      return;
    }
    if (outcome.kind === 'hitless-error') return this.warn('victim-error', note);
    if (outcome.kind === 'timeout') return this.warn('victim-timeout', note);
    if (outcome.kind === 'closed') return this.warn('victim-closed', note);
    const seenAt = this.seen.get(id);
    const culprit = seenAt ? this.culpritFromHistory(this.historyBefore(id)) : null;
    this.fail('I1 victim-bad-response', outcome.reason, culprit, note);
  }

  /**
   * The case to blame for a response that reached the wrong client: the evil endpoint answer's own
   * case, the case whose request was smuggled, or else the last attack case on the endpoint
   * connection before the misdelivered request.
   */
  private culpritForForeign(foreign: string, fallback: SmuggleCase | null): SmuggleCase | null {
    const o = this.owners.get(foreign);
    if (o !== undefined && o.kind !== 'victim' && (o.kind === 'marker' || this.smuggled.has(foreign))) return o.c;
    return this.culpritFromHistory(this.historyBefore(foreign)) ?? (o !== undefined && o.kind !== 'victim' ? o.c : fallback);
  }

  /** Ids parsed on the same endpoint connection before `id`. */
  private historyBefore(id: string): string[] {
    const at = this.seen.get(id);
    if (at === undefined) return [];
    const out: string[] = [];
    const e = this.endpoints.get(at.cluster)!;
    for (const r of e.requests) if (r.conn === at.conn && r.seq < at.seq && r.id !== null) out.push(r.id);
    return out;
  }

  /**
   * A client received `foreign`'s response for one of its `requests`. Judged once the endpoints
   * have seen what they will see (settle): a response crossing on the wire with an evil endpoint's
   * unsolicited bytes is a race no proxy can win, not a failure.
   */
  private crossClient(requests: readonly string[], foreign: string, sub: string, fallback: SmuggleCase | null, note: string): void {
    // Judged after any attack case still running then has ended and reported what it received:
    // a race it lost is what excuses the same connection's next misdelivery.
    this.pendingCross.push({ due: performance.now() + this.hardMs + 500, requests, foreign, sub, fallback, note });
  }

  /** Judges the cross-client deliveries older than `ageMs` (all of them with 0). */
  settle(ageMs = 1): void {
    const now = performance.now();
    const pending = this.pendingCross;
    // Excusals are worked out over every pending delivery, due or not, before any is judged: the
    // race an attacker lost (an evil endpoint's bytes taken as its answer) excuses the misdelivery
    // of its own answer to the next client on that connection, and that client's report can come
    // first and fall due first (the attack case reports only when it ends). Each excused delivery
    // may excuse the next one on the connection, so the pass repeats until nothing new is excused;
    // evil endpoints' own bytes first, as every chain starts there.
    const ordered = [...pending].sort((a, b) => Number(this.owners.get(b.foreign)?.kind === 'marker') - Number(this.owners.get(a.foreign)?.kind === 'marker'));
    const excused = new Set<(typeof pending)[number]>();
    for (let changed = true; changed; ) {
      changed = false;
      for (const p of ordered) {
        if (excused.has(p) || !this.crossedOnTheWire(p.requests, p.foreign)) continue;
        excused.add(p);
        changed = true;
      }
    }
    const keep: typeof pending = [];
    for (const p of pending) {
      if (ageMs > 0 && p.due > now) {
        keep.push(p);
        continue;
      }
      const detail = `${p.note}${this.timing(p.requests, p.foreign)}`;
      if (excused.has(p)) this.warn('late-race', detail);
      else this.fail('I1 cross-client', p.sub, this.culpritForForeign(p.foreign, p.fallback), detail);
    }
    this.pendingCross = keep;
  }

  /**
   * Bytes that crossed a request on the wire: an evil endpoint's unsolicited bytes (or, after
   * such a race, the answer they displaced) that the endpoint wrote only after the client had
   * written its request. Then hitless already had that request, and had possibly sent it, when
   * the bytes came: no proxy can tell them from its answer. Bytes written before the request was
   * (so waiting in hitless's socket buffer when the request came) are never excused.
   */
  private crossedOnTheWire(requests: readonly string[], foreign: string): boolean {
    const o = this.owners.get(foreign);
    if (o?.kind !== 'marker' && !this.raced.has(foreign)) return false;
    const answered = this.answeredAt.get(foreign);
    if (answered === undefined) return false;
    const crossed = requests.filter((r) => (this.writtenAt.get(r) ?? Infinity) < answered);
    for (const r of crossed) this.raced.add(r);
    return crossed.length > 0;
  }

  private timing(requests: readonly string[], foreign: string): string {
    const ms = (t: number | undefined): string => (t === undefined ? 'never' : `${t.toFixed(2)}`);
    const where = (id: string): string => {
      const at = this.seen.get(id);
      return at === undefined ? 'never reached an endpoint' : `reached ${at.cluster} endpoint connection ${at.conn} (request ${at.seq}) at ${ms(at.at)}`;
    };
    const r = requests.map((id) => `${id} written at ${ms(this.writtenAt.get(id))}, ${where(id)}`).slice(0, 3);
    return `; timing (ms): ${r.join('; ')}; bytes naming ${foreign} written by the endpoint at ${ms(this.answeredAt.get(foreign))}`;
  }

  noteWritten(ids: readonly string[]): void {
    const now = performance.now();
    for (const id of ids) if (!this.writtenAt.has(id)) this.writtenAt.set(id, now);
  }

  kickVictims(n: number): void {
    for (const v of this.victims) v.kick(n);
  }

  /** Resolves when every victim has done what it was asked (bounded). */
  async victimsIdle(timeoutMs = 10_000): Promise<void> {
    await Promise.all(this.victims.map((v) => v.idle(timeoutMs)));
  }

  // ---- the attacker side (I1, I4) ----

  async runCase(c: SmuggleCase): Promise<AttackResult> {
    const run: CaseRun = { c, started: performance.now(), ended: null, touch: null };
    this.runs.set(c.seed, run);
    this.active.add(run);
    for (const id of c.ids) this.register(id, { kind: 'attack', c });
    this.register(markerOf(c.primary), { kind: 'marker', c });
    this.cases++;
    this.casesByShape[c.shape]++;
    this.kickVictims(2);
    let result: AttackResult;
    try {
      result = await attack(this.hitless.port, c, run, this.quietMs, this.hardMs, (id) => this.seen.has(id) && this.evilFor(id) === null, (ids) => this.noteWritten(ids));
    } finally {
      run.ended = performance.now();
      this.active.delete(run);
    }
    this.kickVictims(2);
    this.checkAttacker(c, result);
    this.settle();
    return result;
  }

  private checkAttacker(c: SmuggleCase, result: AttackResult): void {
    const own = new Set([...c.ids, markerOf(c.primary)]);
    const bytes = result.received;
    const note = `attacker received ${show(bytes, 900)}`;
    for (const id of echoedIds(bytes)) {
      if (own.has(id)) continue;
      const o = this.owners.get(id);
      const what = o?.kind === 'victim' ? "a victim's response" : o !== undefined ? "another attack case's response" : 'a response for an unknown id';
      this.crossClient(c.ids, id, `an attacker received ${what}`, c, `case ${c.seed} received ${id}; ${note}`);
      break;
    }
    // Read as a client would at the end: a response without framing runs to the last byte.
    const reading = readStream(bytes, true);
    const finals = reading.responses.filter((r) => r.status >= 200 || r.status === 101);
    const asksUpgrade = /\r?\nupgrade[ \t]*:/i.test(c.attack.toString('latin1'));
    if (!asksUpgrade && finals.some((r) => r.status === 101)) this.fail('I4 attacker-responses', 'a 101 (a tunnel) for a request that asked for no upgrade', c, note);
    if (finals.length > c.requestLines) this.fail('I4 attacker-responses', 'more responses than requests', c, `${finals.length} responses to at most ${c.requestLines} requests; ${note}`);
    const closing = finals.findIndex((r) => /(?:^|,)\s*close\s*(?:,|$)/i.test(header(r, 'connection') ?? ''));
    if (closing !== -1 && (closing < finals.length - 1 || (reading.error !== null && finals[closing].end < bytes.length))) {
      this.fail('I4 attacker-responses', 'bytes after a response that said Connection: close', c, note);
    }
    const echoed = new Set<string>();
    for (const r of finals) {
      const echo = header(r, 'x-echo-id');
      if (echo !== undefined && echo === markerOf(c.primary)) this.fail('I4 attacker-responses', "an endpoint's unsolicited response delivered as a response", c, note);
      if (echo !== undefined && echo !== 'none' && echoed.has(echo)) this.fail('I4 attacker-responses', 'two responses for one request', c, note);
      if (echo !== undefined) echoed.add(echo);
      if (r.framing === 'close' && /HTTP\/1\.[01] \d{3} /.test(r.body.toString('latin1'))) {
        const inner = echoedIds(r.body).filter((x) => x !== echo && x !== markerOf(c.primary));
        if (inner.length > 0) this.fail('I4 attacker-responses', 'a response without framing on a kept-alive connection: the next response merged into its body', c, note);
      }
    }
  }

  /** The same case through HAProxy (ids in the "h" namespace), for the forward/refuse verdicts. */
  async runHaproxy(c: SmuggleCase, h: SmuggleCase, hitlessResult: AttackResult): Promise<DifferentialResult | null> {
    if (this.haproxy === null) return null;
    this.haproxyCases++;
    const run: CaseRun = { c: h, started: performance.now(), ended: null, touch: null };
    this.haproxyRuns.set(h.seed, run);
    // No early end on HAProxy's side: it is given until the connection goes quiet to forward a
    // pipelined or hidden request, so that "HAProxy refused" never means "was not waited for".
    const patient: SmuggleCase = { ...h, expectedAnswers: h.requestLines + 1 };
    const result = await attack(this.haproxy.port, patient, run, this.quietMs, this.hardMs, (id) => this.seenHaproxy.has(id));
    run.ended = performance.now();
    this.haproxyRuns.delete(h.seed);
    const d: DifferentialResult = {
      c,
      hitless: c.ids.map((id, i) => (this.seen.has(id) ? i : -1)).filter((i) => i >= 0),
      hitlessHeadOnly: c.ids.map((id, i) => (this.seen.has(id) && !this.seen.get(id)!.complete ? i : -1)).filter((i) => i >= 0),
      haproxy: h.ids.map((id, i) => (this.seenHaproxy.has(id) ? i : -1)).filter((i) => i >= 0),
      haproxyAnswer: firstAnswer(result),
      hitlessAnswer: firstAnswer(hitlessResult),
    };
    this.differential.push(d);
    return d;
  }

  /**
   * Runs one case with nothing else in flight (the victims only), to tell whether a failure seen
   * in a concurrent run is this case's own. Returns the failures it caused.
   */
  async replayAlone(c: SmuggleCase): Promise<Failure[]> {
    await this.victimsIdle();
    this.settle(0);
    const before = this.failures.length;
    await this.runCase(c);
    this.kickVictims(8);
    await this.victimsIdle();
    await new Promise((r) => setTimeout(r, 50)); // late-response cases write 20 ms after their answer
    this.kickVictims(4);
    await this.victimsIdle();
    this.settle(0);
    return this.failures.slice(before);
  }

  /** Slots of a case that reached an endpoint through hitless. */
  forwarded(c: SmuggleCase): number[] {
    return c.ids.map((id, i) => (this.seen.has(id) ? i : -1)).filter((i) => i >= 0);
  }

  failureCounts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const f of this.failures) m.set(`${f.cls}: ${f.sub}`, (m.get(`${f.cls}: ${f.sub}`) ?? 0) + 1);
    return m;
  }

  /** Cross-client responses, and requests at the endpoint that hitless did not route. */
  headline(): { crossClient: number; unrouted: number; framing: number; attacker: number } {
    const n = (p: string): number => this.failures.filter((f) => f.cls.startsWith(p)).length;
    return { crossClient: n('I1'), unrouted: n('I2'), framing: n('I3'), attacker: n('I4') };
  }
}

function firstAnswer(r: AttackResult): string {
  const text = r.received.toString('latin1');
  const line = /^HTTP\/1\.[01] \d{3}[^\r\n]*/.exec(text)?.[0];
  if (line !== undefined) return line;
  return text.length > 0 ? `garbage ${show(text.slice(0, 40))}` : r.closed ? 'closed without answer' : 'no answer';
}

export function describeFailure(f: Failure): string {
  const c = f.culprit;
  const lines = [`[${f.cls}] ${f.sub}${c ? ` — case seed ${c.seed} (${c.family}, ${c.shape}-shaped, evil ${c.evil ?? 'none'}, follow-up ${c.followMode})` : ` — unattributed; cases around: ${f.suspects.join(', ')}`}`];
  if (c) {
    lines.push(`- hitless request path: ${c.shape === 'raw' ? 'raw HTTP/1.1 path (request-head.ts accepts the shape)' : 'node:http path (the raw path hands the shape over)'}`);
    if (c.mutations.length > 0) lines.push(`- mutations: ${c.mutations.join('; ')}`);
    lines.push(`- attack bytes: \`${show(c.attack, 1_200)}\``);
    if (c.followUp) lines.push(`- follow-up (${c.followMode}): \`${show(c.followUp, 300)}\``);
    if (c.evil) lines.push(`- endpoint answers the primary request (${c.primary}) with: ${c.evil}`);
    lines.push(`- replay: \`FUZZ_SEED=${c.seed} FUZZ_CASES=1 node --import tsx bench/fuzz.ts\``);
  }
  lines.push(`- seen: ${f.detail}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Reports

/** HAProxy differential: cases where hitless forwarded a request that HAProxy did not forward. */
export function differentialFindings(h: SmuggleHarness): { hitlessOnly: DifferentialResult[]; haproxyOnly: DifferentialResult[] } {
  // The follow-up is a plain request sent after the case: whether it is forwarded depends on
  // whether the proxy kept the connection open, not on how it read the attack.
  const judged = (d: DifferentialResult, slot: number): boolean => d.c.ids[slot] !== d.c.followId;
  const hitlessOnly = h.differential.filter((d) => d.hitless.some((slot) => judged(d, slot) && !d.haproxy.includes(slot)));
  const haproxyOnly = h.differential.filter((d) => d.haproxy.some((slot) => judged(d, slot) && !d.hitless.includes(slot)));
  return { hitlessOnly, haproxyOnly };
}

/** The lines a run prints: counts, failures by class, warnings, HAProxy differential. */
export function summaryLines(h: SmuggleHarness, seconds: number, seed: number): string[] {
  const head = h.headline();
  const lines = [
    `smuggling invariants: ${h.cases} generated cases (seed ${seed}; ${h.casesByShape.raw} built for the raw HTTP/1.1 path, ${h.casesByShape.node} for the node:http path) in ${seconds.toFixed(1)} s; ${h.victimRequests} victim requests; ${h.endpointRequests} requests parsed at the endpoints`,
    `  cross-client responses (I1): ${head.crossClient}`,
    `  unrouted requests at the endpoint (I2): ${head.unrouted}`,
    `  framing/Host violations at the endpoint (I3): ${head.framing}`,
    `  attacker-connection violations (I4): ${head.attacker}`,
  ];
  for (const [k, n] of [...h.failureCounts()].sort()) lines.push(`    ${n} x ${k}`);
  const warnings = [...h.warnings].map(([k, n]) => `${k} ${n}`).join(', ');
  lines.push(`  warnings (not failures): ${warnings || 'none'}`);
  if (h.haproxyNote) lines.push(`  ${h.haproxyNote}`);
  if (h.haproxy !== null) {
    const { hitlessOnly, haproxyOnly } = differentialFindings(h);
    lines.push(`  differential: ${h.differential.length} cases sent to both; hitless forwarded what HAProxy refused: ${hitlessOnly.length}; HAProxy forwarded what hitless refused: ${haproxyOnly.length}`);
    const groups = new Map<string, DifferentialResult[]>();
    for (const d of hitlessOnly) {
      const extra = d.hitless.filter((slot) => d.c.ids[slot] !== d.c.followId && !d.haproxy.includes(slot));
      const how = extra.every((slot) => d.hitlessHeadOnly.includes(slot)) ? 'head only, then hitless gave up' : 'whole request';
      const key = `${d.c.family}: ${how} (HAProxy: ${d.haproxyAnswer.replace(/^HTTP\/1\.[01] /, '')}; hitless: ${d.hitlessAnswer.replace(/^HTTP\/1\.[01] /, '')})`;
      groups.set(key, [...(groups.get(key) ?? []), d]);
    }
    for (const [key, list] of [...groups].sort((a, b) => b[1].length - a[1].length).slice(0, 25)) {
      const d = list[0];
      lines.push(`    ${list.length} x ${key}; e.g. seed ${d.c.seed}, slots hitless ${JSON.stringify(d.hitless)} HAProxy ${JSON.stringify(d.haproxy)}: ${show(d.c.attack, 300)}`);
    }
    // The other way round too: where hitless is stricter than HAProxy (each one, they are few).
    if (haproxyOnly.length > 0) lines.push('  HAProxy forwarded, hitless refused:');
    for (const d of haproxyOnly.slice(0, 10)) {
      lines.push(`    ${d.c.family} (HAProxy: ${d.haproxyAnswer.replace(/^HTTP\/1\.[01] /, '')}; hitless: ${d.hitlessAnswer.replace(/^HTTP\/1\.[01] /, '')}); seed ${d.c.seed}, slots hitless ${JSON.stringify(d.hitless)} HAProxy ${JSON.stringify(d.haproxy)}: ${show(d.c.attack, 300)}`);
    }
  }
  return lines;
}

export { runLanes } from './smuggle-clients.js';
export type { AttackResult } from './smuggle-clients.js';
