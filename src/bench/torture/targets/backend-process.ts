// Entry point of one bundled backend process (forked by backends.ts). Runs the backend servers,
// reports its ports over IPC, and exits when the parent goes away, so a crashed bench never
// leaves backends behind.
import { startBackendServers } from './backend-server.js';

// HITLESS_BACKEND_PORTS="HTTP,ECHO": ports chosen by the parent (in its --ports range); absent: any.
const [http, echo] = (process.env.HITLESS_BACKEND_PORTS ?? '').split(',').map(Number);
const servers = await startBackendServers(process.env.HITLESS_BACKEND_HOST ?? '127.0.0.1', { http: http || undefined, echo: echo || undefined });
process.send?.({ httpPort: servers.httpPort, echoPort: servers.echoPort });
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
