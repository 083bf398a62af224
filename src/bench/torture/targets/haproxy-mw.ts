// HAProxy master-worker: one master (our child) re-executes itself on SIGUSR2 and passes the
// listening sockets to the new worker ("seamless reload", expose-fd listeners). New connections
// survive; idle keep-alive connections of the old worker are closed, and old workers stay as long
// as they hold long-lived connections.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signalAction } from '../actions.js';
import { checkHaproxyConfig, haproxyBinary, haproxyConfig, haproxyVersion } from './haproxy-config.js';
import { freePort } from './ports.js';
import { makeTempDir, startServingChild } from './processes.js';
import { loopbackEndpoint, type StartedTarget, type TargetContext, type TargetDefinition } from './target.js';

export const haproxyMwTarget = masterWorkerTarget(
  'haproxy-mw',
  'HAProxy master-worker, seamless reload: kill -USR2 <master> per action (expose-fd listeners, 1 thread, mode http)',
  false,
);

/** The same, tuned as hitless tunes the HAProxy it drives: does the option alone remove the losses? */
export const haproxyMwIdleCloseTarget = masterWorkerTarget(
  'haproxy-mw-icor',
  'HAProxy master-worker as haproxy-mw, plus "option idle-close-on-response" (what hitless renders for the HAProxy it drives)',
  true,
);

function masterWorkerTarget(name: string, description: string, idleCloseOnResponse: boolean): TargetDefinition {
  return {
    name,
    description,
    unavailable: async () => ((await haproxyBinary()) ? undefined : 'haproxy not found (/usr/sbin/haproxy)'),
    version: haproxyVersion,
    start: (context) => startHaproxyMw(context, name, idleCloseOnResponse),
  };
}

async function startHaproxyMw(context: TargetContext, name: string, idleCloseOnResponse: boolean): Promise<StartedTarget> {
  const binary = (await haproxyBinary())!;
  const dir = await makeTempDir(name);
  const cfg = join(dir.path, 'haproxy.cfg');
  const port = await freePort();
  const endpoint = loopbackEndpoint(port);
  await writeFile(cfg, haproxyConfig({ port, backends: context.backends, statsSocket: join(dir.path, 'stats.sock'), idleCloseOnResponse }));
  await checkHaproxyConfig(binary, cfg);
  const served = await startServingChild(binary, ['-W', '-f', cfg, '-p', join(dir.path, 'haproxy.pid')], endpoint, context.startTimeoutMs, dir, dir.path);
  const master = served.pid;
  return {
    http: endpoint,
    action: context.action === 'none' ? undefined : signalAction('SIGUSR2', () => master),
    mainPid: master,
    roots: () => [master],
    notes: context.action === 'native' || context.action === 'none' ? [] : [`action "${context.action}" is not available for ${name}; using kill -USR2`],
    stop: served.stop,
  };
}
