// What `hitless bench torture` and `npm run bench` do once options are parsed: run the suite with
// a progress line, stop cleanly on SIGINT, then print the tables, the JSON and the report.
import { externalRoots, type TortureOptions } from './cli-options.js';
import { textTable } from './format.js';
import { machineInfo } from './machine-info.js';
import { progressReporter } from './progress.js';
import { loadReportLibraries } from './report/report-libraries.js';
import { writeReport } from './report/write-report.js';
import { runSuite, type SuiteResult } from './suite.js';
import { noteLines, TARGET_HEADERS, targetRows, TRAFFIC_HEADERS, trafficRows } from './summary.js';
import { setPortRange } from './targets/ports.js';
import { findTarget } from './targets/registry.js';

export interface TortureIo {
  /** The command line, for the report. */
  readonly command: string;
  readonly stdout: NodeJS.WriteStream;
  readonly stderr: NodeJS.WriteStream;
}

export async function runTortureCommand(options: TortureOptions, io: TortureIo): Promise<SuiteResult> {
  const abort = new AbortController();
  const onSigint = () => {
    if (abort.signal.aborted) process.exit(130);
    io.stderr.write('\ntorture: interrupted, stopping targets (Ctrl-C again to quit at once)\n');
    abort.abort();
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  if (options.ports) setPortRange(...options.ports);
  const progress = progressReporter(io.stderr);
  const log = (line: string) => {
    progress.done();
    io.stderr.write(`${line}\n`);
  };
  // Before the run, not after it: a missing chart library would otherwise cost the whole run.
  if (options.report) await loadReportLibraries();
  try {
    const external = options.external && { ...options.external, roots: externalRoots(options.external) };
    const suite = await runSuite({ ...options, external, signal: abort.signal, onProgress: (p) => progress.update(p), log });
    progress.done();
    printSummary(suite, options.json ? io.stderr : io.stdout);
    if (options.json) io.stdout.write(`${JSON.stringify(suite, null, 2)}\n`);
    if (options.report) {
      const machine = await machineInfo(options.builtins.map(findTarget));
      const written = await writeReport(options.report, suite, machine, io.command);
      log(`torture: report written to ${written.markdown}`);
    }
    return suite;
  } finally {
    progress.done();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}

export function printSummary(suite: SuiteResult, stream: NodeJS.WritableStream): void {
  const notes = noteLines(suite.targets);
  stream.write(`\n${textTable(TRAFFIC_HEADERS, trafficRows(suite.targets))}\n\n`);
  const targets = targetRows(suite.targets);
  if (targets.length > 0) stream.write(`${textTable(TARGET_HEADERS, targets)}\n\n`);
  if (notes.length > 0) stream.write(`${notes.map((n) => `note: ${n}`).join('\n')}\n\n`);
}
