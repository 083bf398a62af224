// HAProxy master-worker: one master (our child) re-executes itself on SIGUSR2 and passes the
// listening sockets to the new worker ("seamless reload", expose-fd listeners). New connections
// survive; idle keep-alive connections of the old worker are closed, and old workers stay as long
// as they hold long-lived connections.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signalAction, type Action } from '../actions.js';
import { fileRotationAction, haproxyRuntimeCertAction, haproxyTlsFrontend, startRotation } from './cert-actions.js';
import { checkHaproxyConfig, haproxyBinary, haproxyConfig, haproxyVersion } from './haproxy-config.js';
import { freePort } from './ports.js';
import { makeTempDir, startServingChild } from './processes.js';
import { loopbackEndpoint, type StartedTarget, type TargetContext, type TargetDefinition } from './target.js';

export const haproxyMwTarget = masterWorkerTarget(
  'haproxy-mw',
  'HAProxy master-worker, seamless reload: kill -USR2 <master> per action (expose-fd listeners, 1 thread, mode http)',
  { idleCloseOnResponse: false, runtimeCert: false },
);

/** The same, tuned as hitless tunes the HAProxy it drives: does the option alone remove the losses? */
export const haproxyMwIdleCloseTarget = masterWorkerTarget(
  'haproxy-mw-icor',
  'HAProxy master-worker as haproxy-mw, plus "option idle-close-on-response" (what hitless renders for the HAProxy it drives)',
  { idleCloseOnResponse: true, runtimeCert: false },
);

/**
 * HAProxy's own way to a new certificate without a reload: the runtime API (`set ssl cert` +
 * `commit ssl cert`). Its action is always that rotation, so it needs the run's TLS.
 */
export const haproxyRuntimeCertTarget = masterWorkerTarget(
  'haproxy-runtime-cert',
  'HAProxy master-worker, certificate rotation through the runtime API: set ssl cert + commit ssl cert per action, no reload (needs TLS: --tls-new-conn / --tls-keep-alive, --action cert, or npm run bench -- --tls)',
  { idleCloseOnResponse: false, runtimeCert: true },
);

interface Variant {
  readonly idleCloseOnResponse: boolean;
  /** The action is a certificate rotation through the runtime API, whatever was asked. */
  readonly runtimeCert: boolean;
}

function masterWorkerTarget(name: string, description: string, variant: Variant): TargetDefinition {
  return {
    name,
    description,
    unavailable: async () => ((await haproxyBinary()) ? undefined : 'haproxy not found (/usr/sbin/haproxy)'),
    version: haproxyVersion,
    start: (context) => startHaproxyMw(context, name, variant),
  };
}

async function startHaproxyMw(context: TargetContext, name: string, variant: Variant): Promise<StartedTarget> {
  if (variant.runtimeCert && !context.tls) throw new Error(`${name} rotates certificates: run it with TLS traffic (--tls-new-conn / --tls-keep-alive; npm run bench -- --tls) or --action cert`);
  const binary = (await haproxyBinary())!;
  const dir = await makeTempDir(name);
  const cfg = join(dir.path, 'haproxy.cfg');
  const statsSocket = join(dir.path, 'stats.sock');
  const port = await freePort();
  const endpoint = loopbackEndpoint(port);
  const tls = context.tls;
  const tlsPort = tls ? await freePort() : undefined;
  const rotation = tls ? await startRotation(tls, dir.path) : undefined;
  const tlsFrontend = rotation && tlsPort ? haproxyTlsFrontend(tlsPort, rotation.live) : undefined;
  await writeFile(cfg, haproxyConfig({ port, backends: context.backends, statsSocket, idleCloseOnResponse: variant.idleCloseOnResponse, tlsFrontend }));
  await checkHaproxyConfig(binary, cfg);
  const served = await startServingChild(binary, ['-W', '-f', cfg, '-p', join(dir.path, 'haproxy.pid')], endpoint, context.startTimeoutMs, dir, dir.path);
  const master = served.pid;
  const reload = signalAction('SIGUSR2', () => master);
  const notes: string[] = [];
  let action: Action | undefined;
  if (context.action === 'none') action = undefined;
  else if (variant.runtimeCert) {
    action = haproxyRuntimeCertAction(tls!, statsSocket, rotation!.live.combined);
    if (context.action !== 'native' && context.action !== 'cert') notes.push(`action "${context.action}" is not available for ${name}; using the runtime API certificate rotation`);
  } else if (context.action === 'cert' && rotation) action = fileRotationAction(rotation, 'kill -USR2 <master> (reload)', () => reload.fire());
  else {
    action = reload;
    if (context.action !== 'native') notes.push(`action "${context.action}" is not available for ${name}; using kill -USR2`);
  }
  return {
    http: endpoint,
    https: tlsPort ? loopbackEndpoint(tlsPort) : undefined,
    action,
    mainPid: master,
    roots: () => [master],
    notes,
    stop: served.stop,
  };
}
