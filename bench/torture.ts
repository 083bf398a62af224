// `npm run bench`: the standard reload-torture suite. Every built-in target that this machine can
// run, 10 actions/s for about 30 s each, one after another; writes docs/benchmarks/torture/
// (README.md with charts, results.json, machine and versions). Under 10 minutes on 2 cores.
//
//   node --import tsx bench/torture.ts [--duration 30] [--targets all] [--report DIR]
import { parseArgs } from 'node:util';
import { parseTortureOptions } from '../src/bench/torture/cli-options.js';
import { runTortureCommand } from '../src/bench/torture/torture-command.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '30' },
    rate: { type: 'string', default: '10' },
    targets: { type: 'string', default: 'all' },
    report: { type: 'string', default: 'docs/benchmarks/torture' },
    json: { type: 'boolean', default: false },
  },
});

const options = parseTortureOptions({
  targets: values.targets,
  duration: values.duration,
  rate: values.rate,
  // A no-action baseline first: 5 s in the standard run, less when --duration is short.
  baseline: String(Math.min(5, Number(values.duration) / 4)),
  newConn: '4',
  keepAlive: '4',
  longLived: '20',
  report: values.report,
  json: values.json,
});

const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim().replace(/ --$/, '');
await runTortureCommand(options, { command, stdout: process.stdout, stderr: process.stderr });
