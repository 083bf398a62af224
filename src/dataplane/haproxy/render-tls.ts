// TLS termination on the HAProxy data plane: a service's `tls:` as a `bind ... ssl crt-list`
// line, the crt-list, and one PEM per certificate (chain then key, which is how HAProxy wants
// them). The files live in hitless's private directory, 0600: the key is written decrypted
// (tls-model.ts keyPem), because HAProxy 2.6 can only ask for a passphrase on a terminal.
//
// Each certificate's file is named after its service and its first SNI name, not after the
// files configured for it nor their content: a renewed certificate keeps its name whether it
// comes as new content in the same files (renewal on disk) or as other files (a PUT naming
// certbot's next archive file), so the runtime API updates it by that name (`set ssl cert NAME`
// + `commit ssl cert NAME`, runtime-certificates.ts) with no reload, and the rendered haproxy.cfg
// stays byte for byte the same. A certificate added at the end of the list or removed (not the
// default) is a runtime change too (`new ssl cert`, `add ssl crt-list`, `del ssl crt-list`,
// `del ssl cert`); anything else that changes the list is a reload.
import { join } from 'node:path';
import type { ServiceConfig } from '../../config/model.js';
import type { TlsConfig } from '../../config/tls-model.js';

/** A service's TLS files as rendered: what is written into the TLS directory and loaded by HAProxy. */
export interface ServiceTlsFiles {
  /** The crt-list file the bind line names. */
  readonly listPath: string;
  /** One line per certificate: its PEM file, then its SNI names (the default certificate first). */
  readonly listText: string;
  /** The lines of listText, by PEM file, in order. */
  readonly lines: ReadonlyArray<{ readonly path: string; readonly text: string }>;
  /** PEM file → its content (chain, then the decrypted key). */
  readonly certificates: ReadonlyMap<string, string>;
  /** PEM file → the configured files it was made from, for HAProxy's complaints (not compared). */
  readonly sources: ReadonlyMap<string, string>;
}

/** PEM text without empty lines: the runtime API's payload ends at the first empty line. */
function pemOf(chainPem: string, keyPem: string): string {
  return `${chainPem}\n${keyPem}\n`
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .join('\n')
    .concat('\n');
}

/**
 * The crt-list: HAProxy serves the first line's certificate when SNI matches no name (or is
 * absent), so the default comes first. Each line names its SNI filters (exact names and
 * "*.suffix" wildcards, the same names the builtin plane matches; HAProxy tries exact names
 * before wildcards, as the builtin does). A certificate with no names gets no filter: HAProxy
 * would then use the certificate's own names, and it has none (tls-material.ts only lets a
 * certificate without names be the default).
 */
export function renderTlsFiles(service: string, tls: TlsConfig, dir: string): ServiceTlsFiles {
  const order = [tls.defaultIndex, ...tls.certificates.keys()].filter((i, at, all) => all.indexOf(i) === at);
  const certificates = new Map<string, string>();
  const sources = new Map<string, string>();
  const lines: Array<{ path: string; text: string }> = [];
  for (const i of order) {
    const c = tls.certificates[i];
    const file = join(dir, `${service}.${fileLabel(c.names, certificates, (label) => join(dir, `${service}.${label}.pem`))}.pem`);
    certificates.set(file, pemOf(c.chainPem, c.keyPem));
    sources.set(file, `${c.certFile} (key ${c.keyFile})`);
    lines.push({ path: file, text: [file, ...c.names].join(' ') });
  }
  const listText = lines.map((l) => l.text).join('\n') + '\n';
  return { listPath: join(dir, `${service}.crt-list`), listText, lines, certificates, sources };
}

/**
 * A certificate's part of its file name: its first name ("*" as "_": names have no "_"), "_none"
 * for a default without names, and "+2", "+3"... after a name an earlier certificate took.
 */
function fileLabel(names: readonly string[], taken: ReadonlyMap<string, string>, fileOf: (label: string) => string): string {
  const base = names.length > 0 ? names[0].replace('*', '_') : '_none';
  let label = base;
  for (let n = 2; taken.has(fileOf(label)); n++) label = `${base}+${n}`;
  return label;
}

/** Node's cipher list holds TLS 1.2 ciphers and TLS 1.3 suites (TLS_*); HAProxy takes them apart. */
function cipherKeywords(ciphers: string | null): string[] {
  if (ciphers === null) return [];
  const names = ciphers.split(':').filter((n) => n !== '');
  const suites = names.filter((n) => n.startsWith('TLS_'));
  const legacy = names.filter((n) => !n.startsWith('TLS_'));
  const out: string[] = [];
  if (legacy.length > 0) out.push(`ciphers ${legacy.join(':')}`);
  if (suites.length > 0) out.push(`ciphersuites ${suites.join(':')}`);
  return out;
}

/**
 * A list of TLS 1.3 suites only leaves Node no TLS 1.2 cipher, so the builtin plane completes no
 * TLS 1.2 handshake; HAProxy would keep its default TLS 1.2 ciphers: TLS 1.3 as the minimum says
 * the same.
 */
function minVersion(tls: TlsConfig): string {
  const names = tls.ciphers?.split(':').filter((n) => n !== '') ?? [];
  return names.length > 0 && names.every((n) => n.startsWith('TLS_')) ? 'TLSv1.3' : tls.minVersion;
}

/** What follows the address on a TLS service's bind line. */
export function bindTlsOptions(files: ServiceTlsFiles, tls: TlsConfig): string {
  const words = ['ssl', `crt-list ${files.listPath}`, `ssl-min-ver ${minVersion(tls)}`, ...cipherKeywords(tls.ciphers)];
  if (tls.alpn.length > 0) words.push(`alpn ${tls.alpn.join(',')}`);
  return words.join(' ');
}

/** The TLS files of every service with `tls:`, by service name. */
export function renderAllTls(services: Iterable<ServiceConfig>, dir: string): Map<string, ServiceTlsFiles> {
  const out = new Map<string, ServiceTlsFiles>();
  for (const s of services) if (s.tls) out.set(s.name, renderTlsFiles(s.name, s.tls, dir));
  return out;
}

/** A certificate whose content changed under the same file name: a runtime API update. */
export interface CertificateUpdate {
  readonly service: string;
  readonly path: string;
  readonly pem: string;
}

/** A certificate new to a crt-list (appended: never the default), or one leaving it. */
export interface CrtListEntry {
  readonly service: string;
  readonly listPath: string;
  readonly path: string;
  /** The crt-list line (file and SNI names); for an addition, with the PEM to load first. */
  readonly line: string;
  readonly pem: string;
}

export interface TlsChange {
  readonly updates: readonly CertificateUpdate[];
  readonly added: readonly CrtListEntry[];
  readonly removed: readonly CrtListEntry[];
}

export function tlsChangeSize(change: TlsChange): number {
  return change.updates.length + change.added.length + change.removed.length;
}

/**
 * What changes in the certificates from `current` to `next` through the runtime API, or why it
 * needs a reload instead. The runtime can renew a certificate, remove one that is not the
 * default, and append one: so the next list must be the current one without the removed lines,
 * then the added ones, with the same first line (the default, which HAProxy will not delete).
 * Then the crt-list on disk says what HAProxy holds, line for line.
 */
export function diffCertificates(current: ReadonlyMap<string, ServiceTlsFiles>, next: ReadonlyMap<string, ServiceTlsFiles>): TlsChange | string {
  const updates: CertificateUpdate[] = [];
  const added: CrtListEntry[] = [];
  const removed: CrtListEntry[] = [];
  for (const [service, files] of next) {
    const was = current.get(service);
    if (!was) return `TLS termination added to ${service}`;
    if (was.listText !== files.listText) {
      const nextPaths = new Map(files.lines.map((l) => [l.path, l.text]));
      const wasPaths = new Set(was.lines.map((l) => l.path));
      const kept = was.lines.filter((l) => nextPaths.get(l.path) === l.text);
      const gone = was.lines.filter((l) => !nextPaths.has(l.path));
      const fresh = files.lines.filter((l) => !wasPaths.has(l.path));
      const expected = [...kept, ...fresh].map((l) => l.text).join('\n') + '\n';
      if (kept.length + gone.length !== was.lines.length || expected !== files.listText || files.lines[0]?.text !== was.lines[0]?.text) {
        return `the certificate list of ${service} changed beyond appending and removing (names, order or default)`;
      }
      for (const l of gone) removed.push({ service, listPath: was.listPath, path: l.path, line: l.text, pem: '' });
      for (const l of fresh) added.push({ service, listPath: files.listPath, path: l.path, line: l.text, pem: files.certificates.get(l.path)! });
    }
    for (const [path, pem] of files.certificates) {
      const old = was.certificates.get(path);
      if (old !== undefined && old !== pem) updates.push({ service, path, pem });
    }
  }
  for (const service of current.keys()) if (!next.has(service)) return `TLS termination removed from ${service}`;
  return { updates, added, removed };
}
