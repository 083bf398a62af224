// nginx: the master (our child, `daemon off`) reloads on SIGHUP by starting new workers and
// gracefully stopping the old ones, which close their idle keep-alive connections.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signalAction } from '../actions.js';
import type { LiveCertFiles } from '../tls-material.js';
import { fileRotationAction, startRotation } from './cert-actions.js';
import { freePort } from './ports.js';
import { capture, findBinary, makeTempDir, startServingChild } from './processes.js';
import { loopbackEndpoint, type StartedTarget, type TargetContext, type TargetDefinition } from './target.js';
import type { Backend } from './backends.js';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx', '/usr/local/nginx/sbin/nginx'];

export const nginxTarget: TargetDefinition = {
  name: 'nginx',
  description: 'nginx, reload: kill -HUP <master> per action (1 worker, http proxy with upstream keep-alive)',
  unavailable: async () => ((await findBinary(CANDIDATES)) ? undefined : 'nginx not found (/usr/sbin/nginx)'),
  version: async () => {
    const binary = await findBinary(CANDIDATES);
    return binary ? (await capture(binary, ['-v'])).output.trim().split('\n')[0] : undefined;
  },
  start: startNginx,
};

/** A TLS server with the same locations, serving the live certificate files. */
function tlsServer(port: number, live: LiveCertFiles): string {
  return `
  server {
    listen 127.0.0.1:${port} ssl backlog=4096;
    ssl_certificate ${live.cert};
    ssl_certificate_key ${live.key};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
    }
  }`;
}

function nginxConfig(dir: string, port: number, backends: readonly Backend[], tls = ''): string {
  const servers = backends.map((b) => `    server 127.0.0.1:${b.httpPort};`).join('\n');
  // As root, workers would otherwise run as the compiled-in user, which may not exist.
  const user = process.getuid?.() === 0 ? 'user nobody nogroup;\n' : '';
  return `${user}worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  upstream app {
${servers}
    keepalive 64;
    keepalive_requests 1000000;
  }
  # Upgrade tunnels (the long-lived connections) pass through; other requests reuse upstream
  # connections, which needs an empty Connection header.
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }${tls}
}
`;
}

async function startNginx(context: TargetContext): Promise<StartedTarget> {
  const binary = (await findBinary(CANDIDATES))!;
  const dir = await makeTempDir('nginx');
  await mkdir(join(dir.path, 'tmp'), { recursive: true });
  const conf = join(dir.path, 'nginx.conf');
  const port = await freePort();
  const endpoint = loopbackEndpoint(port);
  const tlsPort = context.tls ? await freePort() : undefined;
  const rotation = context.tls ? await startRotation(context.tls, dir.path) : undefined;
  await writeFile(conf, nginxConfig(dir.path, port, context.backends, rotation && tlsPort ? tlsServer(tlsPort, rotation.live) : ''));
  const args = ['-p', dir.path, '-c', conf, '-e', join(dir.path, 'error.log')];
  const check = await capture(binary, [...args, '-t', '-q']);
  if (check.code !== 0) {
    await dir.remove();
    throw new Error(`nginx -t rejected the config: ${check.output.trim().split('\n').slice(-3).join(' | ')}`);
  }
  // Worker command lines do not name our directory; they are ours as children of our master.
  const served = await startServingChild(binary, args, endpoint, context.startTimeoutMs, dir);
  const master = served.pid;
  const reload = signalAction('SIGHUP', () => master);
  const certRotation = context.action === 'cert' && rotation ? fileRotationAction(rotation, 'kill -HUP <master> (nginx -s reload)', () => reload.fire()) : undefined;
  return {
    http: endpoint,
    https: tlsPort ? loopbackEndpoint(tlsPort) : undefined,
    action: context.action === 'none' ? undefined : (certRotation ?? reload),
    mainPid: master,
    roots: () => [master],
    notes: context.action === 'native' || context.action === 'none' || certRotation ? [] : [`action "${context.action}" is not available for nginx; using kill -HUP`],
    stop: served.stop,
  };
}
