// Where the project and its built CLI live, for tests that run the real `hitless` process.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = `${ROOT}dist/cli/main.js`;

/** Integration tests run the built CLI; fail with the fix instead of a confusing spawn error. */
export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first (npm test does it)`);
}

/** Debian's HAProxy, which the HAProxy data plane tests drive (.ci/run installs it). */
export const HAPROXY = '/usr/sbin/haproxy';
/** Why the HAProxy tests cannot run here, or false. */
export const haproxyMissing: string | false = existsSync(HAPROXY) ? false : `${HAPROXY} not found: install Debian's haproxy package (.ci/run does) to run these tests`;
