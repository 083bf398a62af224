// Test certificates made with the openssl CLI in a temp dir (nothing committed): a CA (and an
// intermediate), ECDSA P-256 and RSA-2048 leaves, wildcards, and the bad inputs hitless must
// refuse (expired, not yet valid, key mismatch, chain in the wrong order, encrypted key).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** rsa1024: a key OpenSSL at security level 2 (Debian's HAProxy) refuses, which Node accepts. */
export type KeyKind = 'ec' | 'rsa' | 'rsa1024';

export interface Issued {
  readonly cert: string;
  readonly key: string;
}

export interface IssueOptions {
  readonly key?: KeyKind;
  /** subjectAltName DNS names (default: the CN, unless ips are given). */
  readonly names?: readonly string[];
  /** subjectAltName IP addresses. */
  readonly ips?: readonly string[];
  /** openssl ca dates, "YYYYMMDDHHMMSSZ" (default: valid from an hour ago for 30 days). */
  readonly startDate?: string;
  readonly endDate?: string;
  /** Sign with the intermediate instead of the root. */
  readonly viaIntermediate?: boolean;
  /** The key file to use instead of a fresh one (a renewal with the same key). */
  readonly reuseKey?: string;
}

const CA_CONFIG = `[ ca ]
default_ca = hitless_test
[ hitless_test ]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[ any ]
commonName = supplied
[ intermediate ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[ leaf ]
basicConstraints = CA:FALSE
`;

function openssl(cwd: string, args: string[]): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function keyArgs(kind: KeyKind): string[] {
  if (kind === 'ec') return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  return ['-newkey', kind === 'rsa' ? 'rsa:2048' : 'rsa:1024'];
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

/** A private CA in a temp dir that issues leaf certificates; `close()` removes everything. */
export class TestCa {
  readonly dir: string;
  readonly caCert: string;
  readonly intermediateCert: string;
  private n = 0;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'hitless-tls-'));
    writeFileSync(join(this.dir, 'ca.cnf'), CA_CONFIG);
    writeFileSync(join(this.dir, 'index.txt'), '');
    writeFileSync(join(this.dir, 'serial'), '1000\n');
    openssl(this.dir, ['req', '-x509', ...keyArgs('ec'), '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '60', '-subj', '/CN=hitless test CA']);
    this.caCert = join(this.dir, 'ca.crt');
    openssl(this.dir, ['req', '-new', ...keyArgs('ec'), '-nodes', '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/CN=hitless test intermediate']);
    this.sign('int.csr', 'int.crt', 'intermediate', false, stamp(Date.now() - 3_600_000), stamp(Date.now() + 50 * 86_400_000));
    this.intermediateCert = join(this.dir, 'int.crt');
  }

  private sign(csr: string, out: string, extensions: string, viaIntermediate: boolean, start: string, end: string): void {
    const [cert, key] = viaIntermediate ? ['int.crt', 'int.key'] : ['ca.crt', 'ca.key'];
    openssl(this.dir, ['ca', '-batch', '-config', 'ca.cnf', '-cert', cert, '-keyfile', key, '-in', csr, '-out', out, '-extensions', extensions, '-startdate', start, '-enddate', end, '-notext']);
  }

  /** A leaf for `cn`; the cert file holds the leaf (and the intermediate after it when viaIntermediate). */
  issue(cn: string, options: IssueOptions = {}): Issued {
    const id = `leaf${++this.n}`;
    const names = options.names ?? (options.ips ? [] : [cn]);
    const keyFile = options.reuseKey ?? join(this.dir, `${id}.key`);
    const san = `subjectAltName=${[...names.map((n) => `DNS:${n}`), ...(options.ips ?? []).map((ip) => `IP:${ip}`)].join(',')}`;
    const newKey = options.reuseKey ? ['-key', keyFile] : [...keyArgs(options.key ?? 'ec'), '-nodes', '-keyout', keyFile];
    openssl(this.dir, ['req', '-new', ...newKey, '-out', `${id}.csr`, '-subj', `/CN=${cn}`, '-addext', san]);
    const start = options.startDate ?? stamp(Date.now() - 3_600_000);
    const end = options.endDate ?? stamp(Date.now() + 30 * 86_400_000);
    this.sign(`${id}.csr`, `${id}.crt`, 'leaf', options.viaIntermediate ?? false, start, end);
    const certFile = join(this.dir, `${id}.pem`);
    const chain = readFileSync(join(this.dir, `${id}.crt`), 'utf8') + (options.viaIntermediate ? readFileSync(this.intermediateCert, 'utf8') : '');
    writeFileSync(certFile, chain);
    return { cert: certFile, key: keyFile };
  }

  /** `key` encrypted with `passphrase` (AES-256), as a new file. */
  encryptKey(key: string, passphrase: string): string {
    const out = join(this.dir, `enc${++this.n}.key`);
    openssl(this.dir, ['pkey', '-in', key, '-aes256', '-passout', `pass:${passphrase}`, '-out', out]);
    return out;
  }

  /** A file of `text` in the CA's dir. */
  file(name: string, text: string): string {
    const path = join(this.dir, name);
    writeFileSync(path, text);
    return path;
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export { stamp as opensslDate };
