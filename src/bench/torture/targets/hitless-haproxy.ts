// hitless driving HAProxy (dataplane: haproxy): `node dist/cli/main.js run --config A`, and as the
// action an endpoint change (PUT /config alternating A and B, which differ only in endpoints and
// weights), applied through HAProxy's runtime API without any reload. With TLS (--tls, --action
// cert / cert-put) a second service terminates TLS in HAProxy; hitless refuses `tls:` with this
// driver until the HAProxy data plane renders it, and the target then fails to start with that
// refusal in its notes (nothing here works around it).
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { haproxyCertConfigs, haproxyChurnConfigs } from './hitless-haproxy-configs.js';
import { applyAction, type Action } from '../actions.js';
import { fileRotationAction, startRotation } from './cert-actions.js';
import { haproxyBinary, haproxyVersion } from './haproxy-config.js';
import { freePort } from './ports.js';
import { capture, makeTempDir, startServingChild } from './processes.js';
import { loopbackEndpoint, type StartedTarget, type TargetContext, type TargetDefinition } from './target.js';
import { MAIN } from './hitless.js';

export const hitlessHaproxyTarget: TargetDefinition = {
  name: 'hitless-haproxy',
  description: 'hitless with the HAProxy data plane: endpoint churn per action (PUT /config alternating two endpoint sets; runtime API, no reload)',
  unavailable: async () => {
    if (!existsSync(MAIN)) return `${MAIN} not found: run "npm run build" first`;
    return (await haproxyBinary()) ? undefined : 'haproxy not found (/usr/sbin/haproxy)';
  },
  version: async () => {
    const hitless = existsSync(MAIN) ? (await capture(process.execPath, [MAIN, '--version'])).output.trim().split('\n')[0] : '?';
    return `hitless ${hitless} + ${(await haproxyVersion()) ?? 'HAProxy ?'}`;
  },
  start: startHitlessHaproxy,
};

async function startHitlessHaproxy(context: TargetContext): Promise<StartedTarget> {
  const dir = await makeTempDir('hitless-haproxy');
  const port = await freePort();
  const adminSocket = join(dir.path, 'admin.sock');
  const tls = context.tls;
  const tlsPort = tls ? await freePort() : undefined;
  const rotation = tls && context.action === 'cert' ? await startRotation(tls, dir.path) : undefined;
  const served = rotation ? rotation.live : tls?.certs[0];
  const options = {
    adminSocket,
    stateDir: join(dir.path, 'haproxy'),
    port,
    backendPorts: context.backends.map((b) => b.httpPort),
    binary: await haproxyBinary(),
    tls: served && tlsPort ? { port: tlsPort, cert: served.cert, key: served.key } : undefined,
  };
  const configs = tls && context.action === 'cert-put' ? haproxyCertConfigs(options, tls.certs[1]) : haproxyChurnConfigs(options);
  const files = [join(dir.path, 'config-a.yaml'), join(dir.path, 'config-b.yaml')] as const;
  await writeFile(files[0], configs[0]);
  await writeFile(files[1], configs[1]);
  const endpoint = loopbackEndpoint(port);
  // HAProxy's master and workers are hitless's children: the stop takes the whole tree.
  const child = await startServingChild(process.execPath, [MAIN, 'run', '--config', files[0]], endpoint, context.startTimeoutMs, dir);
  const root = child.pid;
  const notes = context.action === 'upgrade' ? ['action "upgrade" is not available for hitless-haproxy; using endpoint churn'] : [];
  let action: Action | undefined;
  if (context.action === 'none') action = undefined;
  else if (rotation) action = fileRotationAction(rotation, 'hitless watches them and rotates through the runtime API');
  else if (context.action === 'cert-put') action = { ...applyAction(`unix:${adminSocket}`, files), name: "rotate certificate: PUT /config naming the other certificate's files" };
  else action = applyAction(`unix:${adminSocket}`, files);
  return {
    http: endpoint,
    https: tlsPort ? loopbackEndpoint(tlsPort) : undefined,
    action,
    mainPid: root,
    roots: () => [root],
    notes,
    stop: child.stop,
  };
}
