// Replacing a file so that a reader (or a crash, or a power loss) sees the old content or the new,
// never a mix: write a temporary file in the same directory, fsync it, rename it over the target,
// fsync the directory. The previous content is kept next to it as a backup, with the same mode
// and owner (a config file holds tokens: its backup must be as private as the file).
import { link, open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export interface ReplaceResult {
  /** The file written: the target of `path` when it is a symlink (the link itself stays). */
  readonly path: string;
  /** Where the previous content was kept; null when there was no previous file. */
  readonly backup: string | null;
}

/**
 * Replaces `path`'s content by `text` atomically, keeping the previous content as `path + backupSuffix`.
 * Mode (and, when running as root, owner) of the previous file carry over to both. Throws the
 * system error (EACCES, EROFS, ENOSPC…) with nothing changed but, at worst, the backup.
 */
export async function replaceFileAtomically(path: string, text: string, backupSuffix = '.prev'): Promise<ReplaceResult> {
  // A symlinked config (config management often links a release) keeps its link: write the target.
  const target = await realpath(path).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? path : Promise.reject(err)));
  const dir = dirname(target);
  const previous = await stat(target).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
  const mode = previous ? previous.mode & 0o7777 : 0o600;
  const owner = previous && process.getuid?.() === 0 ? { uid: previous.uid, gid: previous.gid } : null;
  let backup: string | null = null;
  if (previous) {
    backup = target + backupSuffix;
    await keepAsBackup(dir, target, backup, mode, owner);
  }
  await writeThenRename(dir, target, Buffer.from(text, 'utf8'), mode, owner);
  await syncDirectory(dir);
  return { path: target, backup };
}

/**
 * The previous file becomes the backup. A second name for the same inode costs no copy and no
 * data sync (its content is on disk already) and keeps mode and owner by definition; where hard
 * links are refused (some filesystems, protected_hardlinks), a copy is written instead.
 */
async function keepAsBackup(dir: string, target: string, backup: string, mode: number, owner: { uid: number; gid: number } | null): Promise<void> {
  const tmp = temporaryName(dir, backup);
  try {
    await link(target, tmp);
    await rename(tmp, backup);
    // rename() between two names of one inode (the backup already is this file) does nothing.
    await unlink(tmp).catch(() => {});
    return;
  } catch {
    await unlink(tmp).catch(() => {});
  }
  const old = await open(target, 'r').then(async (h) => {
    try {
      return await h.readFile();
    } finally {
      await h.close();
    }
  });
  await writeThenRename(dir, backup, old, mode, owner);
}

/** Hidden and unique: two writers never share a temporary file. */
function temporaryName(dir: string, to: string): string {
  return join(dir, `.${basename(to)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

async function writeThenRename(dir: string, to: string, data: Buffer, mode: number, owner: { uid: number; gid: number } | null): Promise<void> {
  // Never an existing file ('wx').
  const tmp = temporaryName(dir, to);
  let handle: FileHandle | null = await open(tmp, 'wx', mode);
  try {
    // The umask may have narrowed the mode open() gave: set it exactly.
    await handle.chmod(mode);
    if (owner) await handle.chown(owner.uid, owner.gid).catch(() => {});
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(tmp, to);
  } catch (err) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** Makes the renames durable: the directory entry is what a crash would otherwise lose. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
