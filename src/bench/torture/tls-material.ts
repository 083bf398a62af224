// Certificates for the TLS traffic kinds and the certificate-rotation action, made with the
// openssl CLI into a temp dir for one run (never committed): a throw-away CA the clients trust,
// and three leaves for "localhost" that it signed, A, B and C, which the rotation cycles through
// (three, not two: a proxy that reads the files on a timer whose period is an even number of
// rotations would otherwise always find A). A client that gets a half-rotated pair (new
// certificate, old key) or an unsigned one fails its handshake.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { capture, makeTempDir } from './targets/processes.js';

export const TLS_SERVERNAME = 'localhost';

export interface TortureCert {
  readonly name: string;
  readonly cert: string;
  readonly key: string;
  /** cert then key in one file, as HAProxy's `crt` and its runtime API take it. */
  readonly combined: string;
  readonly fingerprint256: string;
}

export interface TortureTls {
  readonly ca: Buffer;
  /** A, B, C (cert-put alternates the first two). */
  readonly certs: readonly TortureCert[];
  /** The certificate's name (A, B, C) by the fingerprint a client sees. */
  nameOf(fingerprint256: string | undefined): string;
  remove(): Promise<void>;
}

async function openssl(args: readonly string[]): Promise<void> {
  const { code, output } = await capture('openssl', args);
  if (code !== 0) throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${output.trim().split('\n').slice(-2).join(' | ')}`);
}

export async function opensslMissing(): Promise<string | undefined> {
  const { code } = await capture('openssl', ['version']).catch(() => ({ code: 127 }));
  return code === 0 ? undefined : 'the openssl command is needed to make the TLS certificates';
}

/** A CA and three ECDSA P-256 leaves for localhost, valid for two days from now. */
export async function makeTortureTls(): Promise<TortureTls> {
  const dir = await makeTempDir('tls');
  try {
    const p = (f: string) => join(dir.path, f);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
    await openssl(['req', '-x509', ...ec, '-keyout', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=hitless torture CA']);
    const certs: TortureCert[] = [];
    for (const name of ['A', 'B', 'C']) {
      const [crt, key, csr] = [p(`${name}.crt`), p(`${name}.key`), p(`${name}.csr`)];
      await openssl(['req', ...ec, '-keyout', key, '-out', csr, '-subj', `/CN=${TLS_SERVERNAME}`]);
      await writeFile(p(`${name}.ext`), `subjectAltName=DNS:${TLS_SERVERNAME}\n`);
      await openssl(['x509', '-req', '-in', csr, '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial', '-out', crt, '-days', '2', '-extfile', p(`${name}.ext`)]);
      const pem = await readFile(crt, 'utf8');
      const combined = p(`${name}.pem`);
      await writeFile(combined, pem + (await readFile(key, 'utf8')), { mode: 0o600 });
      certs.push({ name, cert: crt, key, combined, fingerprint256: new X509Certificate(pem).fingerprint256 });
    }
    const ca = await readFile(p('ca.crt'));
    const names = new Map(certs.map((c) => [c.fingerprint256, c.name]));
    return {
      ca,
      certs,
      nameOf: (fp) => (fp ? (names.get(fp) ?? `unknown ${fp.slice(0, 11)}`) : 'not seen (socket closed at once)'),
      remove: () => dir.remove(),
    };
  } catch (err) {
    await dir.remove();
    throw err;
  }
}

/** The files a proxy serves from: replaced in place by each rotation. */
export interface LiveCertFiles {
  readonly cert: string;
  readonly key: string;
  readonly combined: string;
}

export function liveFiles(dir: string): LiveCertFiles {
  return { cert: join(dir, 'live.crt'), key: join(dir, 'live.key'), combined: join(dir, 'live.pem') };
}

/**
 * Cycles A, B, C (the proxy starts on A): each call installs the next one's files over the
 * live ones the way certbot and cert-manager do, by writing a temp file next to each and renaming
 * it over the old (rename is atomic per file; the key follows the certificate). Returns it.
 */
export class CertRotation {
  private current = 0;

  constructor(
    private readonly tls: TortureTls,
    readonly live: LiveCertFiles,
  ) {}

  /** Puts A in place before the proxy starts. */
  async installFirst(): Promise<void> {
    await this.install(this.tls.certs[0]);
  }

  async next(): Promise<TortureCert> {
    this.current = (this.current + 1) % this.tls.certs.length;
    const cert = this.tls.certs[this.current];
    await this.install(cert);
    return cert;
  }

  private async install(cert: TortureCert): Promise<void> {
    const tag = createHash('sha256').update(`${process.pid}${Math.random()}`).digest('hex').slice(0, 8);
    // Synchronous on purpose: a few small files, and the load generator's busy event loop would
    // otherwise stretch one rotation over several of its 100 ms slots.
    for (const [from, to] of [[cert.cert, this.live.cert], [cert.key, this.live.key], [cert.combined, this.live.combined]] as const) {
      const temp = `${to}.${tag}.tmp`;
      writeFileSync(temp, this.bytes(from), { mode: 0o600 });
      renameSync(temp, to);
    }
  }

  private readonly cache = new Map<string, Buffer>();

  private bytes(file: string): Buffer {
    let b = this.cache.get(file);
    if (!b) this.cache.set(file, (b = readFileSync(file)));
    return b;
  }
}
