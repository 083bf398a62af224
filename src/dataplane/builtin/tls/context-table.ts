// One service's secure contexts, built once per TLS config (invariant 7): one per certificate,
// the names they serve (exact, then "*.suffix" wildcards, then the default), and the initial
// context every connection starts from, which holds the protocol settings and the ticket keys.
// A rotation builds a new table and swaps it in: handshakes in progress finish on the one they
// started with, the next one gets the new certificate.
import { createHash } from 'node:crypto';
import { createSecureContext, type SecureContext, type TLSSocket } from 'node:tls';
import type { TlsConfig } from '../../../config/tls-model.js';
import { certificatePickerSupported, installCertificatePicker, installTicketKeys, setCurrentTicketKey } from './node-internals.js';
import type { TicketKeys } from './ticket-keys.js';
import type { SniMatch, TlsStats } from './tls-stats.js';

/** Seconds a session (ticket) may be resumed after the handshake that made it. */
const SESSION_LIFETIME_S = 300;

export class TlsContextTable {
  private readonly contexts: readonly SecureContext[];
  private readonly exact = new Map<string, number>();
  /** "*.example.com" is kept as "example.com": a name matches with its first label removed. */
  private readonly wildcard = new Map<string, number>();
  /**
   * What every connection starts from: no certificate (the certificate callback sets the chosen
   * one), the protocol settings and the ticket keys; in the fallback, the default certificate's
   * context with the same settings (SNICallback then picks).
   */
  readonly initial: SecureContext;
  /**
   * One certificate without an OCSP response: nothing to choose, so the connection starts on its context and there is no
   * SNICallback (which makes every handshake pause for the certificate callback, a trip through
   * JS and a copy of the certificate into the connection: bench:tls measures it). The SNI match
   * is counted after the handshake instead (secured()).
   */
  readonly single: boolean;
  private readonly picker: boolean;
  /** ALPN as Node wants it, made once: [length][name]... */
  readonly alpn: Buffer | undefined;
  readonly pick = (servername: string | undefined): SecureContext => this.choose(servername);
  readonly sniCallback = (servername: string, done: (err: Error | null, context?: SecureContext) => void): void => done(null, this.choose(servername));
  /** Each certificate's OCSP response (ocsp_file) and when it stops being current; by context. */
  private readonly ocsp = new Map<SecureContext, { der: Buffer; nextUpdate: number }>();
  /** The response to staple with `context`: only while current (never one past its nextUpdate). */
  readonly staple = (context: SecureContext): Buffer | undefined => {
    const r = this.ocsp.get(context);
    if (!r || Date.now() >= r.nextUpdate) return undefined;
    this.stats.stapled++;
    return r.der;
  };

  constructor(
    readonly service: string,
    readonly config: TlsConfig,
    readonly stats: TlsStats,
    keys: () => TicketKeys,
  ) {
    const settings = {
      minVersion: config.minVersion,
      ...(config.ciphers !== null ? { ciphers: config.ciphers } : {}),
      // Per service: a ticket of one service never resumes on another (OpenSSL compares these).
      sessionIdContext: createHash('sha256').update(`hitless:${service}`).digest('hex').slice(0, 32),
      sessionTimeout: SESSION_LIFETIME_S,
    };
    this.contexts = config.certificates.map((c) => createSecureContext({ ...settings, cert: c.chainPem, key: c.keyPem }));
    config.certificates.forEach((c, i) => {
      if (c.ocspResponse !== null && c.ocspNextUpdate !== null) this.ocsp.set(this.contexts[i], { der: Buffer.from(c.ocspResponse, 'base64'), nextUpdate: c.ocspNextUpdate });
    });
    config.certificates.forEach((c, i) => {
      for (const name of c.names) {
        // The first certificate listed with a name serves it.
        const [map, key] = name.startsWith('*.') ? [this.wildcard, name.slice(2)] : [this.exact, name];
        if (!map.has(key)) map.set(key, i);
      }
    });
    // A stapled OCSP response goes out from the certificate callback: such a certificate needs it.
    this.single = config.certificates.length === 1 && this.ocsp.size === 0;
    this.picker = !this.single && certificatePickerSupported();
    this.initial = this.picker ? createSecureContext(settings) : this.contexts[config.defaultIndex];
    installTicketKeys(this.initial, keys);
    this.alpn = config.alpn.length > 0 ? alpnWire(config.alpn) : undefined;
  }

  /** Sets up a new server-side socket (created on `initial`, with `sniCallback`) to take its certificate from this table. */
  attach(socket: TLSSocket): void {
    if (this.single) return;
    if (this.picker && !installCertificatePicker(socket, this.pick, this.ocsp.size > 0 ? this.staple : undefined)) socket.destroy(new Error('node:tls internals changed: no certificate callback'));
  }

  /** After a completed handshake: a one-certificate table counts the SNI match here (choose() does otherwise). */
  secured(socket: TLSSocket): void {
    if (this.single) this.stats.sni[this.lookup(socket.servername || undefined)[1]]++;
  }

  /** A rotation of the ticket keys (the callback reads them itself; only the fallback is told). */
  ticketKeysChanged(keys: TicketKeys): void {
    setCurrentTicketKey(this.initial, keys);
  }

  private choose(servername: string | undefined): SecureContext {
    const [index, match] = this.lookup(servername);
    this.stats.sni[match]++;
    return this.contexts[index];
  }

  private lookup(servername: string | undefined): [number, SniMatch] {
    if (!servername) return [this.config.defaultIndex, 'none'];
    const name = servername.toLowerCase().replace(/\.$/, '');
    const exact = this.exact.get(name);
    if (exact !== undefined) return [exact, 'exact'];
    const dot = name.indexOf('.');
    const wild = dot > 0 ? this.wildcard.get(name.slice(dot + 1)) : undefined;
    if (wild !== undefined) return [wild, 'wildcard'];
    return [this.config.defaultIndex, 'default'];
  }
}

function alpnWire(protocols: readonly string[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of protocols) {
    const name = Buffer.from(p, 'utf8');
    parts.push(Buffer.from([name.length]), name);
  }
  return Buffer.concat(parts);
}
