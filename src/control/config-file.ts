// The config file a running hitless was started from, and the rule that keeps it truthful: a
// config applied through the admin API is written to it (admin.api_apply: write-file, the
// default), so SIGHUP and a restart load what runs; when it is not written (keep-file, a file
// hitless cannot write, no file at all) the apply still holds, and the answer, the log and
// GET /status say that the file differs. See docs/operations.md, "Where the running config comes from".
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { loadConfigFile } from '../config/load.js';
import { sha256Hex } from '../config/hash.js';
import type { ConfigSnapshot } from '../config/model.js';
import type { Logger } from '../observability/log.js';
import { replaceFileAtomically } from '../util/atomic-file.js';

/** What an apply through the admin API did to the config file. */
export interface FileOutcome {
  /** The config file; null when hitless runs without one. */
  readonly path: string | null;
  readonly written: boolean;
  /** Whether the file now differs from the running config (null: there is no file). */
  readonly differs: boolean | null;
  /** Where the previous content was kept, when the file was written. */
  readonly backup?: string;
  /** Why the file could not be written (admin.api_apply: write-file). */
  readonly error?: string;
  /** For people: what SIGHUP or a restart would do now, when that is not "keep the running config". */
  readonly warning?: string;
}

/** What GET /status says about the file: its hash now, and whether it differs from the running base. */
export interface FileState {
  readonly path: string | null;
  /** SHA-256 of the file's content now; null without a file or when it cannot be read. */
  readonly hash: string | null;
  readonly differs: boolean | null;
  readonly error: string | null;
}

export class ConfigFile {
  /** Absolute: the working directory is the process's, and status should name the file unambiguously. */
  readonly path: string | null;
  /** The file's identity when it was last hashed: stat changes, the content is read again. */
  private seen: { key: string; hash: string | null; error: string | null } | null = null;
  /** The hash of the last text an API apply left in the file (written, or found there already). */
  private persistedHash: string | null = null;

  constructor(
    path: string | undefined,
    private readonly log: Logger,
  ) {
    this.path = path === undefined ? null : resolve(path);
  }

  /** The file as a config snapshot (SIGHUP); throws ConfigError when invalid or unreadable. */
  load(): Promise<ConfigSnapshot> {
    if (this.path === null) throw new Error('this instance was not started from a file');
    return loadConfigFile(this.path);
  }

  /**
   * After an apply through the admin API committed `base` (or found it running already): writes
   * its text when the mode says so and the file holds something else. Never throws: a file that
   * cannot be written leaves the apply in place and says so.
   */
  async persist(base: ConfigSnapshot): Promise<FileOutcome> {
    const mode = base.config.admin.apiApply;
    const path = this.path;
    if (path === null) {
      const warning = 'hitless runs without a config file: the config applied through the API lasts until hitless stops';
      this.log.warn({ hash: base.hash.slice(0, 12) }, `config applied through the admin API is not written to the config file: ${warning}`);
      return { path: null, written: false, differs: null, warning };
    }
    const current = this.state(base.hash);
    if (current.differs === false) {
      this.persistedHash = base.hash;
      return { path, written: false, differs: false };
    }
    if (mode !== 'write-file') {
      const warning = `admin.api_apply is ${mode}: ${path} differs from the running config, and SIGHUP or a restart will load the file's content instead`;
      this.log.warn({ file: path, hash: base.hash.slice(0, 12) }, `config applied through the admin API is not written to the config file (${warning})`);
      return { path, written: false, differs: true, warning };
    }
    try {
      const written = await replaceFileAtomically(path, base.text);
      this.seen = null;
      this.persistedHash = base.hash;
      this.log.info({ file: path, backup: written.backup, hash: base.hash.slice(0, 12) }, 'config applied through the admin API written to the config file');
      return { path, written: true, differs: this.state(base.hash).differs, ...(written.backup ? { backup: written.backup } : {}) };
    } catch (err) {
      const error = `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${(err as Error).message}`;
      const warning = `${path} could not be written (${error}), so it differs from the running config: SIGHUP or a restart will load the file's content instead. Let hitless write the file and its directory, then apply again, or copy the running config (GET /config) into it`;
      this.log.warn({ file: path, err: error, hash: base.hash.slice(0, 12) }, 'config applied through the admin API but not written to the config file; SIGHUP or a restart will load the file instead');
      return { path, written: false, differs: true, error, warning };
    }
  }

  /** Whether the API apply of `hash` is (or was) in the file: if the file differs now, someone changed it since. */
  persisted(hash: string): boolean {
    return this.persistedHash === hash;
  }

  /**
   * The file now, compared by content hash with `runningHash` (the hash of the running base's
   * text). Stat first: the file is read again only when its identity, size or times changed.
   */
  state(runningHash: string | null): FileState {
    const path = this.path;
    if (path === null) return { path: null, hash: null, differs: null, error: null };
    let key: string;
    try {
      const s = statSync(path, { bigint: true });
      key = `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    } catch (err) {
      key = `missing:${(err as NodeJS.ErrnoException).code}`;
    }
    if (this.seen?.key !== key) {
      try {
        this.seen = { key, hash: sha256Hex(readFileSync(path, 'utf8')), error: null };
      } catch (err) {
        this.seen = { key, hash: null, error: `${(err as NodeJS.ErrnoException).code ?? 'error'}: cannot read ${path}` };
      }
    }
    const { hash, error } = this.seen;
    return { path, hash, differs: runningHash === null ? null : hash !== runningHash, error };
  }
}
