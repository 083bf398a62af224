// TLS termination on the HAProxy data plane: a service's `tls:` as a `bind ... ssl crt-list`
// line, the crt-list, and one PEM per certificate (chain then key, which is how HAProxy wants
// them). The files live in hitless's private directory, 0600: the key is written decrypted
// (tls-model.ts keyPem), because HAProxy 2.6 can only ask for a passphrase on a terminal.
//
// Each certificate's file is named after its service and its line in the crt-list, not after
// the files configured for it nor their content: a renewed certificate keeps its name whether
// it comes as new content in the same files (renewal on disk) or as other files (a PUT naming
// certbot's next archive file), so the runtime API updates it by that name (`set ssl cert NAME`
// + `commit ssl cert NAME`, runtime-certificates.ts) with no reload, and the rendered haproxy.cfg
// and crt-list stay byte for byte the same. Only a change of the list itself (a certificate
// added or removed, other names, another default) changes them, and that is a reload.
import { join } from 'node:path';
import type { ServiceConfig } from '../../config/model.js';
import type { TlsConfig } from '../../config/tls-model.js';

/** A service's TLS files as rendered: what is written into the TLS directory and loaded by HAProxy. */
export interface ServiceTlsFiles {
  /** The crt-list file the bind line names. */
  readonly listPath: string;
  /** One line per certificate: its PEM file, then its SNI names (the default certificate first). */
  readonly listText: string;
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
  const lines: string[] = [];
  for (const [line, i] of order.entries()) {
    const c = tls.certificates[i];
    const file = join(dir, `${service}.${line}.pem`);
    certificates.set(file, pemOf(c.chainPem, c.keyPem));
    sources.set(file, `${c.certFile} (key ${c.keyFile})`);
    lines.push([file, ...c.names].join(' '));
  }
  return { listPath: join(dir, `${service}.crt-list`), listText: lines.join('\n') + '\n', certificates, sources };
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

/** What follows the address on a TLS service's bind line. */
export function bindTlsOptions(files: ServiceTlsFiles, tls: TlsConfig): string {
  const words = ['ssl', `crt-list ${files.listPath}`, `ssl-min-ver ${tls.minVersion}`, ...cipherKeywords(tls.ciphers)];
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

/**
 * The certificates to update in place from `current` to `next`, or why the change needs a reload
 * (a certificate added, removed or renamed, names or order changed: the crt-list differs).
 */
export function diffCertificates(current: ReadonlyMap<string, ServiceTlsFiles>, next: ReadonlyMap<string, ServiceTlsFiles>): CertificateUpdate[] | string {
  const updates: CertificateUpdate[] = [];
  for (const [service, files] of next) {
    const was = current.get(service);
    if (!was) return `TLS termination added to ${service}`;
    if (was.listPath !== files.listPath || was.listText !== files.listText) return `the certificates of ${service} changed (added, removed, names or default)`;
    for (const [path, pem] of files.certificates) if (was.certificates.get(path) !== pem) updates.push({ service, path, pem });
  }
  for (const service of current.keys()) if (!next.has(service)) return `TLS termination removed from ${service}`;
  return updates;
}
