// One entry of `tls.certificates`: its files read and checked the way a TLS client will check
// them, so that a mistake is refused with the file and the reason before anything is served:
// unreadable file, not a certificate, chain in the wrong order, key not matching, wrong or
// missing passphrase, outside its validity period, names it does not cover.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { TlsCertificateConfig } from './tls-model.js';
import { absolutePath, certificateBlocks, filesDigest, holdsPrivateKey, isEncryptedKey, readTlsFile } from './tls-files.js';
import type { RawTlsCertificate } from './tls-schema.js';
import { OcspResponseError, verifyOcspResponse } from './ocsp-response.js';

type Problem = (path: PropertyKey[], message: string) => void;

export interface CertificateChecks {
  readonly now: number;
  readonly allowExpired: boolean;
}

const DAY_MS = 86_400_000;

/** The certificate at `at` (…tls.certificates[i]), or undefined after reporting every problem found. */
export function loadCertificate(raw: RawTlsCertificate, at: PropertyKey[], problem: Problem, checks: CertificateChecks): TlsCertificateConfig | undefined {
  const certFile = absolutePath(raw.cert);
  const keyFile = absolutePath(raw.key);
  const chain = readChain(certFile, [...at, 'cert'], problem);
  let passphraseBytes: Buffer | undefined;
  const passphrase = readPassphrase(raw, at, problem, (bytes) => (passphraseBytes = bytes));
  const key = passphrase === undefined ? undefined : readKey(keyFile, passphrase, [...at, 'key'], raw.passphrase_file ? [...at, 'passphrase_file'] : raw.passphrase ? [...at, 'passphrase'] : [...at, 'key'], problem);
  if (!chain || !key) return undefined;
  const { certs, pem, bytes: certBytes } = chain;
  const leaf = certs[0];
  if (!leaf.checkPrivateKey(key.object)) {
    const other = certs.findIndex((c, i) => i > 0 && c.checkPrivateKey(key.object));
    problem(
      [...at, 'key'],
      other > 0
        ? `the key ${keyFile} belongs to certificate ${other + 1} of ${certFile}, not to the first: the file must start with the leaf (the certificate of this key), followed by its issuers in order`
        : `the key ${keyFile} does not match the certificate ${certFile} (${leaf.subject.replace(/\n/g, ', ')}): its public key belongs to another key pair; use the key this certificate was issued for, or the certificate issued for this key`,
    );
    return undefined;
  }
  if (!checkValidity(certs, certFile, [...at, 'cert'], problem, checks)) return undefined;
  const names = namesOf(raw, leaf, certFile, at, problem);
  if (!names) return undefined;
  // What OpenSSL itself refuses (a key too small for its security level, an unsupported curve)
  // is found here, as a config problem, rather than when a data plane builds the context.
  try {
    createSecureContext({ cert: pem, key: key.pem });
  } catch (err) {
    problem([...at, 'cert'], `OpenSSL refuses the certificate ${certFile} with the key ${keyFile}: ${(err as Error).message}`);
    return undefined;
  }
  const ocsp = raw.ocsp_file === undefined ? null : readOcsp(absolutePath(raw.ocsp_file), certs, [...at, 'ocsp_file'], problem, checks.now);
  if (ocsp === undefined) return undefined;
  const sourceDigest = filesDigest(certBytes, key.bytes, passphraseBytes ?? null, ocsp?.bytes ?? null);
  return Object.freeze({
    certFile,
    keyFile,
    passphraseFile: raw.passphrase_file ? absolutePath(raw.passphrase_file) : null,
    chainPem: pem,
    keyPem: key.pem,
    names: Object.freeze(names.list),
    namesFrom: names.from,
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    notBefore: Date.parse(leaf.validFrom),
    notAfter: Date.parse(leaf.validTo),
    fingerprint256: leaf.fingerprint256,
    keyType: key.object.asymmetricKeyType ?? 'unknown',
    sourceDigest,
    ocspFile: ocsp ? ocsp.file : null,
    ocspResponse: ocsp?.nextUpdate ? ocsp.bytes.toString('base64') : null,
    ocspNextUpdate: ocsp?.nextUpdate ?? null,
  });
}

/**
 * ocsp_file read and checked for the leaf (its issuer must follow it in the cert file). A response
 * that is not for this certificate, revoked, or not signed by its issuer is refused; a stale one
 * is taken (a renewal is on its way: the watcher sees it) but never stapled (nextUpdate null).
 */
function readOcsp(file: string, certs: readonly X509Certificate[], at: PropertyKey[], problem: Problem, now: number): { file: string; bytes: Buffer; nextUpdate: number | null } | undefined {
  const read = readTlsFile(file);
  if (!read.ok) return void problem(at, read.reason);
  const issuer = certs[1];
  if (!issuer) return void problem(at, `the OCSP response ${file} cannot be checked: the certificate file holds no issuer after the leaf; append the issuing (intermediate) certificate to it`);
  try {
    const v = verifyOcspResponse(read.bytes, certs[0], issuer, now);
    return { file, bytes: read.bytes, nextUpdate: v.nextUpdate.getTime() };
  } catch (err) {
    if (err instanceof OcspResponseError && err.kind === 'stale') return { file, bytes: read.bytes, nextUpdate: null };
    return void problem(at, `the OCSP response ${file} cannot be stapled: ${(err as Error).message}`);
  }
}

interface Chain {
  readonly certs: readonly X509Certificate[];
  readonly pem: string;
  readonly bytes: Buffer;
}

function readChain(file: string, path: PropertyKey[], problem: Problem): Chain | undefined {
  const read = readTlsFile(file);
  if (!read.ok) return void problem(path, read.reason);
  const text = read.bytes.toString('latin1');
  const blocks = certificateBlocks(text);
  if (blocks.length === 0) {
    const hint = holdsPrivateKey(text) ? ': it holds a private key; `cert` names the certificate file and `key` the key file' : ' (expected -----BEGIN CERTIFICATE----- blocks)';
    return void problem(path, `no PEM certificate in ${file}${hint}`);
  }
  const certs: X509Certificate[] = [];
  for (let i = 0; i < blocks.length; i++) {
    try {
      certs.push(new X509Certificate(blocks[i]));
    } catch (err) {
      return void problem(path, `certificate ${i + 1} of ${file} is not a valid X.509 certificate: ${(err as Error).message}`);
    }
  }
  // Clients build the path from the leaf up: each certificate must be issued (and signed) by the next.
  for (let i = 0; i + 1 < certs.length; i++) {
    if (certs[i].checkIssued(certs[i + 1]) && certs[i].verify(certs[i + 1].publicKey)) continue;
    const reversed = certs[i + 1].checkIssued(certs[i]);
    const what = reversed
      ? `certificate ${i + 1} (${short(certs[i])}) issued certificate ${i + 2} (${short(certs[i + 1])}), not the other way round: the chain is in reverse order`
      : `certificate ${i + 2} (${short(certs[i + 1])}) did not issue certificate ${i + 1} (${short(certs[i])})`;
    return void problem(path, `the chain in ${file} is in the wrong order: ${what}; put the leaf first, then the certificate that issued it, then that one's issuer, and so on`);
  }
  return { certs, pem: blocks.join('\n') + '\n', bytes: read.bytes };
}

/** The passphrase to use: '' when none is configured, undefined after a problem. */
function readPassphrase(raw: RawTlsCertificate, at: PropertyKey[], problem: Problem, onRead: (bytes: Buffer) => void): string | undefined {
  if (raw.passphrase !== undefined && raw.passphrase_file !== undefined) {
    return void problem([...at, 'passphrase_file'], 'give either passphrase or passphrase_file, not both');
  }
  if (raw.passphrase !== undefined) return raw.passphrase;
  if (raw.passphrase_file === undefined) return '';
  const file = absolutePath(raw.passphrase_file);
  const read = readTlsFile(file);
  if (!read.ok) return void problem([...at, 'passphrase_file'], read.reason);
  onRead(read.bytes);
  // The first line, as `openssl -passin file:` reads it.
  const passphrase = read.bytes.toString('utf8').split(/\r?\n/)[0];
  if (passphrase === '') return void problem([...at, 'passphrase_file'], `${file} is empty: it must hold the key's passphrase on its first line`);
  return passphrase;
}

interface Key {
  readonly object: KeyObject;
  readonly pem: string;
  readonly bytes: Buffer;
}

function readKey(file: string, passphrase: string, path: PropertyKey[], passphrasePath: PropertyKey[], problem: Problem): Key | undefined {
  const read = readTlsFile(file);
  if (!read.ok) return void problem(path, read.reason);
  const text = read.bytes.toString('latin1');
  if (!holdsPrivateKey(text)) {
    const hint = certificateBlocks(text).length > 0 ? ': it holds a certificate; `key` names the private key file' : ' (expected a -----BEGIN ... PRIVATE KEY----- block)';
    return void problem(path, `no PEM private key in ${file}${hint}`);
  }
  if (isEncryptedKey(text) && passphrase === '') {
    return void problem(path, `the key ${file} is encrypted: give its passphrase (passphrase_file: a file holding it, or passphrase:)`);
  }
  let object: KeyObject;
  try {
    object = createPrivateKey({ key: text, format: 'pem', ...(passphrase ? { passphrase } : {}) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // A wrong passphrase usually fails the padding check ("bad decrypt"), but about one in 256
    // decrypts to junk that fails to parse instead: with an encrypted key, either is the passphrase.
    if (isEncryptedKey(text) && passphrase) {
      return void problem(passphrasePath, `wrong passphrase for the key ${file}: it does not decrypt it (${e.message})`);
    }
    return void problem(path, `the private key in ${file} cannot be read: ${e.message}`);
  }
  // Decrypted once here: the data plane (every worker) gets the key without the passphrase.
  const pem = object.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { object, pem, bytes: read.bytes };
}

/** Every certificate of the chain within its validity period, unless allow_expired says otherwise. */
function checkValidity(certs: readonly X509Certificate[], file: string, path: PropertyKey[], problem: Problem, checks: CertificateChecks): boolean {
  if (checks.allowExpired) return true;
  for (let i = 0; i < certs.length; i++) {
    const from = Date.parse(certs[i].validFrom);
    const to = Date.parse(certs[i].validTo);
    const which = certs.length === 1 ? `the certificate in ${file}` : `certificate ${i + 1} of ${file} (${short(certs[i])})`;
    if (checks.now < from) {
      problem(path, `${which} is not valid yet: valid from ${iso(from)}, in ${span(from - checks.now)} (this host's clock says ${iso(checks.now)}); wait, check the clock, or set tls.allow_expired: true to serve it anyway`);
      return false;
    }
    if (checks.now > to) {
      problem(path, `${which} expired on ${iso(to)}, ${span(checks.now - to)} ago; renew it, or set tls.allow_expired: true to serve it anyway (clients that verify certificates will refuse it)`);
      return false;
    }
  }
  return true;
}

/** The names this certificate serves: the configured ones (each covered by it), or its own. */
function namesOf(raw: RawTlsCertificate, leaf: X509Certificate, file: string, at: PropertyKey[], problem: Problem): { list: string[]; from: 'config' | 'certificate' } | undefined {
  const own = certificateNames(leaf);
  if (!raw.names) return { list: own, from: 'certificate' };
  const list: string[] = [];
  for (let i = 0; i < raw.names.length; i++) {
    const name = normaliseName(raw.names[i]);
    if (leaf.checkHost(name) === undefined && !own.includes(name)) {
      return void problem([...at, 'names', i], `the certificate ${file} does not cover "${name}" (it names ${own.length > 0 ? own.join(', ') : 'no DNS name'}): clients would refuse it for that name; remove the name or use a certificate that covers it`);
    }
    if (!list.includes(name)) list.push(name);
  }
  return { list, from: 'config' };
}

/** subjectAltName DNS entries, then the CN when it is a host name not listed already; lower case. */
export function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  for (const m of (cert.subjectAltName ?? '').matchAll(/(?:^|, )DNS:([^,\s]+)/g)) {
    const name = normaliseName(m[1]);
    if (!names.includes(name)) names.push(name);
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  if (cn !== undefined && /^(\*\.)?[A-Za-z0-9.-]+$/.test(cn) && cn.includes('.')) {
    const name = normaliseName(cn);
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

export function normaliseName(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function short(cert: X509Certificate): string {
  return cert.subject.split('\n').find((l) => l.startsWith('CN=')) ?? cert.subject.split('\n')[0] ?? 'no subject';
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function span(ms: number): string {
  if (ms >= 2 * DAY_MS) return `${Math.floor(ms / DAY_MS)} days`;
  if (ms >= 2 * 3_600_000) return `${Math.floor(ms / 3_600_000)} hours`;
  return `${Math.max(1, Math.round(ms / 60_000))} minutes`;
}
