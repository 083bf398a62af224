// Certificate files replaced on disk (cert-manager, certbot, a script) reach the data plane like
// any other change (the termination certificates of tls:, and upstream_tls's client certificates
// and CA files): through the Controller's apply queue, the single writer. When the files of a
// running certificate change, the running base config's text is parsed again, which re-reads and
// re-checks every certificate file, and that snapshot is applied (origin "certificates"). So the
// rotation is validated exactly as a PUT or a SIGHUP would be, appears in the apply log and status
// as a diff (fields: tls), and a bad file is refused with the reason while the running
// certificates keep serving. It re-parses the running text, not the config file: edits of the
// file not yet applied (SIGHUP) are not slipped in by a certificate renewal.
//
// The directories holding the files are watched, not the files: an atomic rename-replace (or a
// Kubernetes secret's `..data` symlink swap) replaces the directory entry, which a watch on the
// old file would not see. Events are debounced (renewals write several files); a slow poll covers
// file systems whose events do not come (network mounts).
import { watch, type FSWatcher } from 'node:fs';
import { CERT_EXPIRY_WARN_DAYS } from '../dataplane/certificate-expiry.js';
import { dirname } from 'node:path';
import { ConfigError } from '../config/errors.js';
import { parseConfig } from '../config/load.js';
import type { ConfigSnapshot } from '../config/model.js';
import { createHash } from 'node:crypto';
import { currentFilesDigest, readTlsFile } from '../config/tls-files.js';
import type { TlsCertificateConfig, UpstreamTlsConfig } from '../config/tls-model.js';
import { ErrorCodes, HitlessError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import type { Controller } from './controller.js';

export interface CertificateWatchOptions {
  /** Quiet time after the last event before the files are read again. */
  readonly debounceMs?: number;
  /** Files are compared this often even without events. */
  readonly pollMs?: number;
}

/** One certificate (and key, passphrase) or one CA file of the running config, and its digest as read. */
interface Watched {
  readonly service: string;
  readonly files: readonly string[];
  readonly digest: string;
  /** The digest of the files as they are now; null when one cannot be read. */
  readonly current: () => string | null;
}

export interface CertificateChange {
  readonly at: string;
  readonly result: 'applied' | 'noop' | 'rejected';
  readonly error?: string;
}

/** Warned about at every apply: the same threshold as status and the dashboard. */
const WARN_DAYS = CERT_EXPIRY_WARN_DAYS;
/** Events keep postponing the read by the debounce, up to this many debounces after the first. */
const MAX_WAIT_DEBOUNCES = 2;

export class CertificateWatcher {
  private followed: ConfigSnapshot | null = null;
  private files: Watched[] = [];
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | null = null;
  /** When the first event not yet followed by a read came (null: none pending). */
  private burstStart: number | null = null;
  private poll: NodeJS.Timeout | null = null;
  private running = false;
  private again = false;
  /** The files' state that was refused last: not tried again until they change once more. */
  private refused: string | null = null;
  private last: CertificateChange | null = null;
  private stopped = false;
  private readonly debounceMs: number;
  private readonly pollMs: number;

  constructor(
    private readonly controller: Controller,
    private readonly log: Logger,
    options: CertificateWatchOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 500;
    this.pollMs = options.pollMs ?? 60_000;
    controller.onRecord(() => this.follow(controller.base));
  }

  /** After every apply: watch the files of the running base (unchanged base: nothing to do). */
  follow(base: ConfigSnapshot | null): void {
    if (this.stopped || !base || base === this.followed) return;
    this.followed = base;
    const files: Watched[] = [];
    for (const [service, s] of base.config.services) {
      for (const c of s.tls?.certificates ?? []) {
        files.push(certificateFiles(service, c));
        this.warnAboutDates(service, c.certFile, c.notBefore, c.notAfter, s.tls!.allowExpired);
      }
      // TLS to the endpoints: the client certificate and the CA file rotate the same way.
      const seen = new Set<UpstreamTlsConfig>();
      for (const [cluster, c] of s.clusters) {
        const tls = c.upstreamTls;
        if (!tls) continue;
        if (tls.insecureSkipVerify) this.log.warn({ service, cluster }, 'ENDPOINT CERTIFICATES ARE NOT VERIFIED (upstream_tls.insecure_skip_verify: true): anyone on the path to these endpoints can read and change the traffic');
        if (seen.has(tls)) continue;
        seen.add(tls);
        if (tls.client) {
          files.push(certificateFiles(service, tls.client));
          this.warnAboutDates(service, tls.client.certFile, tls.client.notBefore, tls.client.notAfter, false);
        }
        if (tls.caFile !== null && tls.caDigest !== null) files.push(caFile(service, tls.caFile, tls.caDigest));
      }
    }
    this.files = files;
    const dirs = new Set(files.flatMap((f) => f.files.map((p) => dirname(p))));
    for (const [dir, w] of this.watchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    for (const dir of dirs) if (!this.watchers.has(dir)) this.watchDir(dir);
    if (files.length > 0 && !this.poll) {
      this.poll = setInterval(() => this.check(), this.pollMs);
      this.poll.unref();
    } else if (files.length === 0 && this.poll) {
      clearInterval(this.poll);
      this.poll = null;
    }
  }

  private watchDir(dir: string): void {
    try {
      const w = watch(dir, { persistent: false }, () => this.schedule());
      // A directory that goes away: the poll still compares the files; the next apply watches again.
      w.on('error', (err) => {
        this.log.warn({ dir, err: err.message }, 'stopped watching a certificate directory; certificate files are still compared every poll');
        w.close();
        this.watchers.delete(dir);
      });
      this.watchers.set(dir, w);
    } catch (err) {
      this.log.warn({ dir, err: (err as Error).message }, 'cannot watch a certificate directory; certificate files are compared every poll instead');
    }
  }

  /**
   * Debounced, with a bound: each event moves the read to debounceMs after it, but never later
   * than MAX_WAIT_DEBOUNCES × debounceMs after the first event not yet read. Files replaced more
   * often than the debounce (a rotation every 100 ms in the torture bench) would otherwise never
   * be read while the churn lasts.
   */
  private schedule(): void {
    if (this.stopped) return;
    const now = Date.now();
    this.burstStart ??= now;
    if (this.timer) clearTimeout(this.timer);
    const latest = this.burstStart + MAX_WAIT_DEBOUNCES * this.debounceMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.burstStart = null;
      this.check();
    }, Math.max(0, Math.min(this.debounceMs, latest - now)));
    this.timer.unref();
  }

  /** Reads the files; when any differs from what runs, applies the running text parsed again. */
  check(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const now = this.files.map((f) => f.current() ?? 'unreadable');
    if (now.every((d, i) => d === this.files[i].digest)) {
      this.refused = null;
      return;
    }
    const state = now.join(',');
    if (state === this.refused) return;
    this.running = true;
    void this.reload(state).finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.check();
      }
    });
  }

  private async reload(state: string): Promise<void> {
    const changed = [...new Set(this.files.filter((f, i) => state.split(',')[i] !== f.digest).map((f) => f.service))];
    this.log.info({ services: changed }, 'certificate files changed on disk: reading them again');
    try {
      const record = await this.controller.apply(() => this.reparse(), { origin: 'certificates' });
      this.refused = null;
      this.last = { at: record.at, result: record.result === 'rejected' ? 'rejected' : record.result };
    } catch (err) {
      this.refused = state;
      const message = (err as Error).message;
      this.last = { at: new Date().toISOString(), result: 'rejected', error: message };
      this.log.error({ services: changed, err: message }, 'certificate files changed on disk were REFUSED: the running certificates keep serving; fix the files (they are read again when they change)');
    }
  }

  private async reparse(): Promise<ConfigSnapshot> {
    const base = this.controller.base;
    if (!base) throw new HitlessError(ErrorCodes.CONFIG_INVALID, 'no config is running');
    try {
      return parseConfig(base.text, base.source);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      const e = new HitlessError(ErrorCodes.CONFIG_INVALID, err.message, err.problems);
      this.controller.recordRejected('certificates', e, undefined, 'certificate files refused');
      throw e;
    }
  }

  private warnAboutDates(service: string, file: string, notBefore: number, notAfter: number, allowExpired: boolean): void {
    const now = Date.now();
    if (allowExpired && (now > notAfter || now < notBefore)) {
      this.log.warn({ service, file, notBefore: new Date(notBefore).toISOString(), notAfter: new Date(notAfter).toISOString() }, 'SERVING A CERTIFICATE OUTSIDE ITS VALIDITY PERIOD (tls.allow_expired: true): clients that verify certificates refuse it');
    } else if (notAfter - now < WARN_DAYS * 86_400_000) {
      this.log.warn({ service, file, notAfter: new Date(notAfter).toISOString(), daysLeft: Math.floor((notAfter - now) / 86_400_000) }, 'certificate expires soon');
    }
  }

  /** For GET /status: what is watched and how the last change on disk went; null without TLS. */
  status(): { readonly directories: string[]; readonly certificates: number; readonly pollSeconds: number; readonly lastChange: CertificateChange | null } | null {
    if (this.files.length === 0) return null;
    return { directories: [...this.watchers.keys()], certificates: this.files.length, pollSeconds: this.pollMs / 1000, lastChange: this.last };
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.poll) clearInterval(this.poll);
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}

function certificateFiles(service: string, c: TlsCertificateConfig): Watched {
  return {
    service,
    files: [c.certFile, c.keyFile, ...(c.passphraseFile ? [c.passphraseFile] : []), ...(c.ocspFile ? [c.ocspFile] : [])],
    digest: c.sourceDigest,
    current: () => currentFilesDigest(c.certFile, c.keyFile, c.passphraseFile, c.ocspFile),
  };
}

/** A CA file, compared by the SHA-256 of its bytes (as upstream-tls.ts computes caDigest). */
function caFile(service: string, file: string, digest: string): Watched {
  return {
    service,
    files: [file],
    digest,
    current: () => {
      const read = readTlsFile(file);
      return read.ok ? createHash('sha256').update(read.bytes).digest('hex') : null;
    },
  };
}
