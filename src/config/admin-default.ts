// Where the admin API listens when the config does not say, and where the CLI looks for it.
// Kept free of dependencies: the CLI shows the default in --help, which loads nothing but commander.
//
// Under systemd, RuntimeDirectory=hitless gives the service /run/hitless and sets
// $RUNTIME_DIRECTORY; the socket goes there, because PrivateTmp= gives the service a /tmp that
// nobody else (an operator's `hitless status`) can see. Elsewhere it goes to the temp folder.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The path the packaged unit's RuntimeDirectory=hitless gives the admin socket. */
export const SYSTEMD_ADMIN_SOCKET = '/run/hitless/admin.sock';

/** The server's default: `unix:$RUNTIME_DIRECTORY/admin.sock` under systemd, else `unix:$TMPDIR/hitless-admin.sock`. */
export function defaultAdminListen(env: NodeJS.ProcessEnv = process.env): string {
  // systemd joins several RuntimeDirectory= entries with ":"; the first is the service's own.
  const runtime = env.RUNTIME_DIRECTORY?.split(':')[0];
  if (runtime) return `unix:${join(runtime, 'admin.sock')}`;
  return `unix:${join(tmpdir(), 'hitless-admin.sock')}`;
}

/**
 * The CLI's --admin default: the server's default in this environment (so ExecReload= and
 * ExecStartPost= lines, which systemd runs with the service's $RUNTIME_DIRECTORY, need no
 * --admin), else the packaged unit's socket when it exists (an operator's shell on that host),
 * else the temp folder's.
 */
export function clientAdminDefault(env: NodeJS.ProcessEnv = process.env, exists: (path: string) => boolean = existsSync): string {
  if (env.RUNTIME_DIRECTORY) return defaultAdminListen(env);
  if (exists(SYSTEMD_ADMIN_SOCKET)) return `unix:${SYSTEMD_ADMIN_SOCKET}`;
  return defaultAdminListen(env);
}
