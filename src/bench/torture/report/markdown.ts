// The report's text. Written to be read by someone who did not run it: what ran where, what the
// columns mean, and then the numbers.
import { markdownTable } from '../format.js';
import type { MachineInfo } from '../machine-info.js';
import type { SuiteResult } from '../suite.js';
import { noteLines, TARGET_HEADERS, targetRows, TRAFFIC_HEADERS, trafficRows } from '../summary.js';
import { AFTER_ACTION_WINDOW_MS } from '../timeline.js';

export function reportMarkdown(suite: SuiteResult, machine: MachineInfo, command: string): string {
  const { shape } = suite;
  const t = shape.traffic;
  const gib = (machine.memoryBytes / (1 << 30)).toFixed(1);
  const versions = groupByValue(machine.versions);
  const notes = noteLines(suite.targets);
  return `# Reload torture: ${suite.targets.map((r) => r.target).join(', ')}

Run on ${machine.date} with \`${command}\`.

## Machine and versions

| | |
|---|---|
| CPUs (nproc) | ${machine.nproc} |
| CPU model | ${machine.cpuModel} |
| memory | ${gib} GiB |
| kernel | ${machine.kernel} |
${versions.map(([names, v]) => `| ${names} | ${v} |`).join('\n')}

## What ran

Each target, one after another, fronted the same bundled backends (separate Node processes
answering \`200 ok\` with keep-alive, and echoing lines on an HTTP Upgrade tunnel) while:

${kindLines(t).join('\n')}
- **actions**: ${shape.actionRate}/s from ${(shape.baselineMs / 1000).toFixed(0)} s to ${(shape.durationMs / 1000).toFixed(0)} s (the first
  ${(shape.baselineMs / 1000).toFixed(0)} s are a no-action baseline); timeout ${t.timeoutMs} ms per request or ping.

Failure kinds: *refused* = ECONNREFUSED; *handshake* = a TLS connection that ended before its
handshake completed (reset, closed, a TLS alert, a certificate the client does not accept); *reset* = ECONNRESET, EPIPE, socket hang up, reply cut
short; *timeout* = no answer within the timeout; *bad status* = a non-2xx reply; *broken* = a
long-lived connection closed or reset before its planned end. Latency: *p99 base* is measured in
the baseline, *p99 after act* over requests overlapping an action or the ${AFTER_ACTION_WINDOW_MS} ms after it; for
long-lived connections latency is the ping round trip. *Back to start after an action*: for each
action that raised the target's process count, the time until the count was back where the run
started (old processes gone; sampled every 250 ms); an action taken shortly before the end can be
*not back by the end*.

${actionLines(suite)}## Results

${markdownTable(TRAFFIC_HEADERS, trafficRows(suite.targets))}

${markdownTable(TARGET_HEADERS, targetRows(suite.targets))}

[![failures](failures.png)](failures.svg)

[![latency over time](latency.png)](latency.svg)

[![processes and memory](processes.png)](processes.svg)
${notes.length > 0 ? `\n## Notes\n\n${notes.map((n) => `- ${n.replace(/\n/g, ' ')}`).join('\n')}\n` : ''}
Raw numbers: [results.json](results.json).
`;
}

/** The traffic kinds that ran, described (kinds set to 0 left out). */
function kindLines(t: SuiteResult['shape']['traffic']): string[] {
  const lines: string[] = [];
  if (t.newConnection) lines.push(`- **new conn**: ${t.newConnection} workers, a new TCP connection per request (\`Connection: close\`);`);
  if (t.keepAlive) lines.push(`- **keep-alive**: ${t.keepAlive} workers, HTTP keep-alive, no client retries (a reset is a failure);`);
  if (t.longLived) {
    lines.push(`- **long-lived**: ${t.longLived} connections at all times, each living ${t.longLivedLifeMs[0] / 1000}-${t.longLivedLifeMs[1] / 1000} s, pinging
  every ${t.pingIntervalMs} ms and checking the echo (${t.longLivedMode === 'upgrade' ? 'through an HTTP Upgrade tunnel' : 'raw TCP echo'});`);
  }
  if (t.tlsNewConnection) {
    lines.push(`- **tls new conn**: ${t.tlsNewConnection} workers, a new TLS connection per request (a full handshake, no session
  resumption, \`Connection: close\`) to the target's TLS listener, verifying its certificate for \`localhost\`
  against the run's throw-away CA;`);
  }
  if (t.tlsKeepAlive) lines.push(`- **tls keep-alive**: ${t.tlsKeepAlive} workers, HTTPS keep-alive (verified as above), no client retries;`);
  return lines;
}

/** What each target's action was (they differ: a reload, an apply, a certificate rotation). */
function actionLines(suite: SuiteResult): string {
  const ran = suite.targets.filter((r) => !r.skipped);
  if (ran.length === 0) return '';
  return `Actions:\n\n${ran.map((r) => `- ${r.target}: ${r.actions.name}`).join('\n')}\n\n`;
}

/** haproxy-sf and haproxy-mw share one binary: one row "haproxy-sf, haproxy-mw | HAProxy 2.6". */
function groupByValue(versions: Readonly<Record<string, string>>): [string, string][] {
  const names = new Map<string, string[]>();
  for (const [name, value] of Object.entries(versions)) names.set(value, [...(names.get(value) ?? []), name]);
  return [...names.entries()].map(([value, keys]) => [keys.join(', '), value]);
}
