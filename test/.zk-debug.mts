import zookeeper from 'node-zookeeper-client';
import { ZookeeperServer } from './helpers/zookeeper.js';
import { createSource } from '../src/discovery/create-source.js';
const server = await ZookeeperServer.launch();
const w = zookeeper.createClient(server.hosts); w.connect();
await new Promise<void>((r) => w.once('connected', () => r()));
await new Promise((r) => w.mkdirp('/x/web', r));
await new Promise((r) => w.create('/x/web/a', Buffer.from('{"host":"1.1.1.1","port":1}'), r));
const src = createSource({ kind: 'zookeeper', hosts: [server.hosts], path: '/x/web', sessionTimeout: 5000 });
const t0 = Date.now();
let lastSet = 0;
await src.start({ onEndpoints: (e, p) => { lastSet = Date.now(); console.log(Date.now() - t0, 'set', e.length, p?.length); }, onError: (e) => console.log(Date.now() - t0, 'error', e.message) });
for (let i = 0; i < 8; i++) {
  await new Promise((r) => setTimeout(r, 300));
  console.log(Date.now() - t0, '--- kill', i);
  await server.kill();
  await server.start();
  const since = Date.now();
  while (lastSet < since && Date.now() - since < 12000) await new Promise((r) => setTimeout(r, 50));
  console.log(Date.now() - t0, lastSet >= since ? 'recovered' : 'STUCK');
  if (lastSet < since) break;
}
await src.stop(); await server.destroy(); process.exit(0);
