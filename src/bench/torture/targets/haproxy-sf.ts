// HAProxy, classic reload: a daemon per generation; each action starts a new daemon with
// `-sf <old pids>`, which binds next to the old one and tells it to finish (soft stop). SYNs queued
// on the old process's socket when it closes are reset: the failure this target demonstrates.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand, type Action } from '../actions.js';
import { fileRotationAction, haproxyTlsFrontend, startRotation } from './cert-actions.js';
import { checkHaproxyConfig, haproxyBinary, haproxyConfig, haproxyVersion } from './haproxy-config.js';
import { freePort } from './ports.js';
import { makeTempDir, readPidFile, stopPids, waitForPort } from './processes.js';
import { loopbackEndpoint, type StartedTarget, type TargetContext, type TargetDefinition } from './target.js';

export const haproxySfTarget: TargetDefinition = {
  name: 'haproxy-sf',
  description: 'HAProxy, classic reload: haproxy -D ... -sf <old pids> per action (1 thread, mode http)',
  unavailable: async () => ((await haproxyBinary()) ? undefined : 'haproxy not found (/usr/sbin/haproxy)'),
  version: haproxyVersion,
  start: startHaproxySf,
};

async function startHaproxySf(context: TargetContext): Promise<StartedTarget> {
  const binary = (await haproxyBinary())!;
  const dir = await makeTempDir('haproxy-sf');
  const cfg = join(dir.path, 'haproxy.cfg');
  const pidFile = join(dir.path, 'haproxy.pid');
  const port = await freePort();
  const endpoint = loopbackEndpoint(port);
  const tlsPort = context.tls ? await freePort() : undefined;
  const rotation = context.tls ? await startRotation(context.tls, dir.path) : undefined;
  const tlsFrontend = rotation && tlsPort ? haproxyTlsFrontend(tlsPort, rotation.live) : undefined;
  // Every daemon generation we ever saw: old ones linger while they finish their connections.
  const seen = new Set<number>();
  const refresh = async () => {
    for (const pid of await readPidFile(pidFile)) seen.add(pid);
  };
  const stop = async () => {
    await refresh();
    await stopPids([...seen], dir.path);
    await dir.remove();
  };
  try {
    await writeFile(cfg, haproxyConfig({ port, backends: context.backends, tlsFrontend }));
    await checkHaproxyConfig(binary, cfg);
    await runCommand(binary, ['-f', cfg, '-p', pidFile, '-D']);
    await refresh();
    await waitForPort(endpoint, context.startTimeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  const reload: Action = {
    name: 'haproxy -D -sf $(cat pidfile)',
    fire: async () => {
      const old = await readPidFile(pidFile);
      await runCommand(binary, ['-f', cfg, '-p', pidFile, '-D', '-sf', ...old.map(String)]);
      await refresh();
    },
  };
  let stopped: Promise<void> | undefined;
  const certRotation = context.action === 'cert' && rotation ? fileRotationAction(rotation, 'haproxy -D -sf (reload)', () => reload.fire()) : undefined;
  return {
    http: endpoint,
    https: tlsPort ? loopbackEndpoint(tlsPort) : undefined,
    action: context.action === 'none' ? undefined : (certRotation ?? reload),
    mainPid: [...seen][0],
    roots: () => [...seen],
    notes: context.action === 'native' || context.action === 'none' || certRotation ? [] : [`action "${context.action}" is not available for haproxy-sf; using its reload`],
    stop: () => (stopped ??= stop()),
  };
}
