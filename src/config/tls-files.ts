// Reading the files a `tls:` section names: bounded, synchronous (a config is parsed in one go,
// like `nginx -t` reads its certificates), with a reason a person can act on when it fails.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/** Certificates, keys and passphrase files are small; anything bigger is not one. */
export const MAX_TLS_FILE_BYTES = 1_048_576;

export type FileRead = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly reason: string };

/** Relative paths are taken from the working directory, whichever way the config came in (file, API). */
export function absolutePath(path: string): string {
  return isAbsolute(path) ? path : resolve(process.cwd(), path);
}

export function readTlsFile(path: string): FileRead {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return { ok: false, reason: openFailure(path, err as NodeJS.ErrnoException) };
  }
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) return { ok: false, reason: `${path} is a directory, not a file` };
    if (stat.size > MAX_TLS_FILE_BYTES) return { ok: false, reason: `${path} holds ${stat.size} bytes, more than any certificate or key (${MAX_TLS_FILE_BYTES}); is it the right file?` };
    const bytes = Buffer.alloc(stat.size);
    let at = 0;
    while (at < bytes.length) {
      const n = readSync(fd, bytes, at, bytes.length - at, at);
      if (n === 0) break;
      at += n;
    }
    return { ok: true, bytes: bytes.subarray(0, at) };
  } catch (err) {
    return { ok: false, reason: `cannot read ${path}: ${(err as Error).message}` };
  } finally {
    closeSync(fd);
  }
}

function openFailure(path: string, err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return `cannot read ${path}: no such file`;
    case 'EACCES':
    case 'EPERM':
      return `cannot read ${path}: permission denied (hitless runs as uid ${process.getuid?.() ?? '?'}; let it read the file)`;
    case 'EISDIR':
      return `${path} is a directory, not a file`;
    default:
      return `cannot read ${path}: ${err.code ?? err.message}`;
  }
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every PEM certificate block of a file, in file order. */
export function certificateBlocks(text: string): string[] {
  return text.match(CERT_BLOCK) ?? [];
}

/** A PEM private key block that needs a passphrase (PKCS#8 encrypted, or legacy Proc-Type encryption). */
export function isEncryptedKey(text: string): boolean {
  return text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /Proc-Type:\s*4,ENCRYPTED/.test(text);
}

export function holdsPrivateKey(text: string): boolean {
  return /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text);
}

/** What identifies the files of one certificate as read: the file watcher compares it with a fresh read. */
export function filesDigest(cert: Buffer, key: Buffer, passphraseFile: Buffer | null, ocspFile: Buffer | null = null): string {
  const hash = createHash('sha256').update(cert).update('\0').update(key).update('\0').update(passphraseFile ?? '');
  if (ocspFile !== null) hash.update('\0ocsp\0').update(ocspFile);
  return hash.digest('hex');
}

/** filesDigest of the files as they are now; null when one cannot be read (that is a change too). */
export function currentFilesDigest(certFile: string, keyFile: string, passphraseFile: string | null, ocspFile: string | null = null): string | null {
  const cert = readTlsFile(certFile);
  const key = readTlsFile(keyFile);
  const pass = passphraseFile === null ? null : readTlsFile(passphraseFile);
  const ocsp = ocspFile === null ? null : readTlsFile(ocspFile);
  if (!cert.ok || !key.ok || (pass !== null && !pass.ok) || (ocsp !== null && !ocsp.ok)) return null;
  return filesDigest(cert.bytes, key.bytes, pass?.ok ? pass.bytes : null, ocsp?.ok ? ocsp.bytes : null);
}
