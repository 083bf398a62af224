// `npm run bench`: the standard reload-torture suite. Every built-in target that this machine can
// run, 10 actions/s for about 30 s each, one after another; writes docs/benchmarks/torture/
// (README.md with charts, results.json, machine and versions). Under 10 minutes on 2 cores.
//
//   node --import tsx bench/torture.ts [--duration 30] [--targets all] [--report DIR] [--ports LOW-HIGH]
//
// --tls: the certificate-rotation run instead: TLS traffic only (4 workers with a new TLS
// connection per request, 4 with TLS keep-alive) and `--action cert` (each target rotates its
// certificate as its users do; hitless-http by renaming new files over the old; --action
// cert-put: by PUT /config), e.g.
//   npm run bench -- --tls --targets hitless-http,nginx,haproxy-mw,haproxy-runtime-cert,hitless-haproxy --report docs/benchmarks/torture-tls
import { parseArgs } from 'node:util';
import { parseTortureOptions } from '../src/bench/torture/cli-options.js';
import { runTortureCommand } from '../src/bench/torture/torture-command.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    rate: { type: 'string', default: '10' },
    targets: { type: 'string', default: 'all' },
    report: { type: 'string' },
    json: { type: 'boolean', default: false },
    // The TLS run: TLS traffic kinds only, the certificate rotated at --rate (see docs/benchmarks/torture-tls).
    tls: { type: 'boolean', default: false },
    action: { type: 'string' },
    ports: { type: 'string' },
  },
});
const tls = values.tls;

const options = parseTortureOptions({
  targets: values.targets,
  duration: values.duration,
  rate: values.rate,
  // A no-action baseline first: 5 s in the standard run, less when --duration is short.
  baseline: String(Math.min(5, Number(values.duration) / 4)),
  newConn: tls ? '0' : '4',
  keepAlive: tls ? '0' : '4',
  longLived: tls ? '0' : '20',
  tlsNewConn: tls ? '4' : '0',
  tlsKeepAlive: tls ? '4' : '0',
  action: values.action ?? (tls ? 'cert' : undefined),
  ports: values.ports,
  report: values.report ?? (tls ? 'docs/benchmarks/torture-tls' : 'docs/benchmarks/torture'),
  json: values.json,
});

const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
await runTortureCommand(options, { command, stdout: process.stdout, stderr: process.stderr });
