// The end-of-run tables: one row per target and traffic kind (failures by kind, latency), and one
// row per target (actions, processes, memory). The same rows feed the text and Markdown forms.
import { TRAFFIC_LABELS } from './kind-stats.js';
import type { TargetResult } from './run-torture.js';
import { mb, ms, ratio } from './format.js';
import { formatReturns, processReturns } from './process-return.js';

export const TRAFFIC_HEADERS = [
  'target', 'kind', 'conc', 'ok', 'refused', 'handshake', 'reset', 'timeout', 'bad status', 'broken', 'other',
  'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'p99 base', 'p99 after act', 'ratio',
];

export function trafficRows(results: readonly TargetResult[]): (string | number)[][] {
  const rows: (string | number)[][] = [];
  for (const result of results) {
    if (result.skipped) {
      rows.push([result.target, 'skipped (see notes)']);
      continue;
    }
    for (const k of result.kinds) {
      const f = k.failures;
      rows.push([
        result.target, TRAFFIC_LABELS[k.kind], k.concurrency, k.ok,
        f.refused, f.handshake, f.reset, f.timeout, f.badStatus, f.broken, f.other,
        ms(k.latency.p50), ms(k.latency.p99), ms(k.latency.p999), ms(k.latency.max),
        ms(k.baseline.p99), ms(k.afterAction.p99), ratio(k.afterAction.p99, k.baseline.p99),
      ]);
    }
  }
  return rows;
}

export const TARGET_HEADERS = ['target', 'actions ok', 'failed', 'skipped', 'failed requests', 'processes start→max→end', 'back to start after an action', 'RSS MB start→max→end', 'elapsed s'];

export function targetRows(results: readonly TargetResult[]): (string | number)[][] {
  return results
    .filter((r) => !r.skipped)
    .map((r) => {
      const first = r.samples[0];
      const last = r.samples[r.samples.length - 1];
      const maxProcs = Math.max(0, ...r.samples.map((s) => s.processes));
      const maxRss = Math.max(0, ...r.samples.map((s) => s.rssBytes));
      const failed = r.kinds.reduce((sum, k) => sum + k.failed, 0);
      const total = r.kinds.reduce((sum, k) => sum + k.failed + k.ok, 0);
      return [
        r.target, r.actions.ok, r.actions.failed, r.actions.skipped,
        `${failed} (${total > 0 ? ((100 * failed) / total).toFixed(3) : '0'} %)`,
        first ? `${first.processes} → ${maxProcs} → ${last.processes}` : '-',
        formatReturns(processReturns(r.samples, r.actions.timesMs)),
        first ? `${mb(first.rssBytes)} → ${mb(maxRss)} → ${mb(last.rssBytes)}` : '-',
        (r.elapsedMs / 1000).toFixed(1),
      ];
    });
}

/** Lines worth reading under the tables: unsupported actions, error samples, notes. */
export function noteLines(results: readonly TargetResult[]): string[] {
  const lines: string[] = [];
  for (const r of results) {
    if (r.skipped) lines.push(`${r.target}: skipped: ${r.skipped}`);
    for (const note of r.notes) lines.push(`${r.target}: ${note}`);
    if (r.actions.unsupported) lines.push(`${r.target}: action unsupported: ${r.actions.unsupported}`);
    else for (const e of r.actions.errorSamples) lines.push(`${r.target}: action error: ${e}`);
    for (const k of r.kinds) {
      if (k.certificates) lines.push(`${r.target} ${TRAFFIC_LABELS[k.kind]}: handshakes by certificate served: ${Object.entries(k.certificates).map(([c, n]) => `${c} ${n}`).join(', ')}`);
    }
    for (const k of r.kinds) for (const e of k.errorSamples) lines.push(`${r.target} ${TRAFFIC_LABELS[k.kind]}: ${e}`);
  }
  return lines;
}
