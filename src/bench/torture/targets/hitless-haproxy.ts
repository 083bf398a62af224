// hitless driving HAProxy (dataplane: haproxy): `node dist/cli/main.js run --config A`, and as the
// action an endpoint change (PUT /config alternating A and B, which differ only in endpoints and
// weights), applied through HAProxy's runtime API without any reload.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { haproxyChurnConfigs } from './hitless-haproxy-configs.js';
import { applyAction } from '../actions.js';
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
  const configs = haproxyChurnConfigs({
    adminSocket,
    stateDir: join(dir.path, 'haproxy'),
    port,
    backendPorts: context.backends.map((b) => b.httpPort),
    binary: await haproxyBinary(),
  });
  const files = [join(dir.path, 'config-a.yaml'), join(dir.path, 'config-b.yaml')] as const;
  await writeFile(files[0], configs[0]);
  await writeFile(files[1], configs[1]);
  const endpoint = loopbackEndpoint(port);
  // HAProxy's master and workers are hitless's children: the stop takes the whole tree.
  const served = await startServingChild(process.execPath, [MAIN, 'run', '--config', files[0]], endpoint, context.startTimeoutMs, dir);
  const root = served.pid;
  const notes = context.action === 'upgrade' ? ['action "upgrade" is not available for hitless-haproxy; using endpoint churn'] : [];
  return {
    http: endpoint,
    action: context.action === 'none' ? undefined : applyAction(`unix:${adminSocket}`, files),
    mainPid: root,
    roots: () => [root],
    notes,
    stop: served.stop,
  };
}
