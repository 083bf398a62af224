// nginx as a bench peer: the common head of its config files, and the nginx backend every proxy
// bench puts behind the proxies (one worker, keep-alive, a fixed ~60-byte body), started pinned.
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitListening, type PinnedProcesses } from './pinned-peers.js';

export const NGINX = '/usr/sbin/nginx';

/** The top of an nginx config whose files (pid, logs) live in `dir` under `name`. */
export const nginxCommon = (dir: string, name: string): string => `
daemon off;
pid ${dir}/${name}.pid;
error_log ${dir}/${name}-error.log warn;
events { worker_connections 4096; }
`;

/** temp_path lines so that nginx writes nothing outside `dir`. */
export const nginxTemps = (dir: string, name: string): string =>
  ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${name}-${t};`).join('\n  ');

/** The backend behind every proxy, on the load CPUs. */
export async function startNginxBackend(procs: PinnedProcesses, dir: string, port: number): Promise<ChildProcess> {
  const conf = `${nginxCommon(dir, 'backend')}
worker_processes 1;
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 300s;
  ${nginxTemps(dir, 'backend')}
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { default_type text/plain; return 200 "hello from the backend, a fixed body of about sixty bytes\\n"; }
  }
}`;
  writeFileSync(join(dir, 'backend.conf'), conf);
  const child = procs.start('backend nginx', NGINX, ['-p', dir, '-c', join(dir, 'backend.conf'), '-e', join(dir, 'backend-error.log')], procs.pin.loadCpus);
  await waitListening(port, 'backend nginx', child);
  return child;
}
