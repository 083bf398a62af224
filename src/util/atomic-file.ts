// Replacing a file so that a reader (or a crash, or a power loss) sees the old content or the new,
// never a mix: write a temporary file in the same directory, fsync it, rename it over the target,
// fsync the directory. The previous content is kept next to it as a backup, with the same mode
// and owner (a config file holds tokens: its backup must be as private as the file).
import { open, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
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
    const old = await open(target, 'r').then(async (h) => {
      try {
        return await h.readFile();
      } finally {
        await h.close();
      }
    });
    await writeThenRename(dir, backup, old, mode, owner);
  }
  await writeThenRename(dir, target, Buffer.from(text, 'utf8'), mode, owner);
  await syncDirectory(dir);
  return { path: target, backup };
}

async function writeThenRename(dir: string, to: string, data: Buffer, mode: number, owner: { uid: number; gid: number } | null): Promise<void> {
  // Hidden, unique, and never an existing file ('wx'): two writers cannot share a temporary file.
  const tmp = join(dir, `.${basename(to)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
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
