// Writes the TLS files a rendered config names (render-tls.ts) into their directory: each file
// 0600 and replaced by rename (HAProxy, reloading, never reads half a file), and files no longer
// named removed, so a removed certificate's key does not stay on disk.
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ServiceTlsFiles } from './render-tls.js';

export async function writeTlsFiles(dir: string, tls: ReadonlyMap<string, ServiceTlsFiles>): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const wanted = new Set<string>();
  const write = async (path: string, text: string): Promise<void> => {
    wanted.add(basename(path));
    const tmp = `${path}.tmp`;
    await writeFile(tmp, text, { mode: 0o600 });
    await rename(tmp, path);
  };
  for (const files of tls.values()) {
    for (const [path, pem] of files.certificates) await write(path, pem);
    await write(files.listPath, files.listText);
  }
  for (const name of await readdir(dir)) if (!wanted.has(name)) await rm(join(dir, name), { force: true });
}
