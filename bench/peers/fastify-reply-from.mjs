// bench:http peer: fastify with @fastify/reply-from (undici pool to the backend, keep-alive),
// forwarding every path, with logging off as in production benchmarks of fastify.
// Usage: node fastify-reply-from.mjs PORT BACKEND_PORT
import process from 'node:process';
import Fastify from 'fastify';
import replyFrom from '@fastify/reply-from';

const [port, backend] = process.argv.slice(2).map(Number);
const app = Fastify({ logger: false });
await app.register(replyFrom, { base: `http://127.0.0.1:${backend}/` });
app.all('/*', (request, reply) => reply.from(request.url));
await app.listen({ port, host: '127.0.0.1' });
