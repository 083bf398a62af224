// The report's charts as vega-lite specs, built from the results alone.
import type { TopLevelSpec } from 'vega-lite';
import { FAILURE_KINDS, FAILURE_LABELS } from '../failures.js';
import { TRAFFIC_LABELS } from '../kind-stats.js';
import type { TargetResult } from '../run-torture.js';

const WIDTH = 720;
const FONT = { config: { font: 'DejaVu Sans', view: { stroke: '#ddd' } } } as const;

/** Failures per target and traffic kind, stacked by failure kind; zero rows keep every target visible. */
export function failuresChart(results: readonly TargetResult[]): TopLevelSpec {
  const values = results
    .filter((r) => !r.skipped)
    .flatMap((r) =>
      r.kinds.flatMap((k) =>
        FAILURE_KINDS.map((f) => ({ row: `${r.target} · ${TRAFFIC_LABELS[k.kind]}`, failure: FAILURE_LABELS[f], count: k.failures[f] })),
      ),
    );
  return {
    ...FONT,
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Failed operations per target and traffic kind',
    width: WIDTH - 200,
    data: { values },
    encoding: { y: { field: 'row', type: 'nominal', title: null, sort: null } },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: { field: 'count', type: 'quantitative', aggregate: 'sum', title: 'failures' },
          color: { field: 'failure', type: 'nominal', title: 'kind', scale: { domain: FAILURE_KINDS.map((f) => FAILURE_LABELS[f]) } },
        },
      },
      {
        // The total at the end of each bar, so that a zero is visibly a zero.
        transform: [{ aggregate: [{ op: 'sum', field: 'count', as: 'total' }], groupby: ['row'] }],
        mark: { type: 'text', align: 'left', dx: 4 },
        encoding: { x: { field: 'total', type: 'quantitative' }, text: { field: 'total', type: 'quantitative' } },
      },
    ],
  };
}

/** p99 latency per 250 ms bucket and traffic kind, one panel per target, actions as faint rules. */
export function latencyChart(results: readonly TargetResult[]): TopLevelSpec {
  const live = results.filter((r) => !r.skipped);
  const latency = live.flatMap((r) =>
    r.kinds.flatMap((k) =>
      k.series.filter((p) => p.p99 > 0).map((p) => ({ mark: 'latency', target: r.target, t: p.tMs / 1000, kind: TRAFFIC_LABELS[k.kind], p99: p.p99 })),
    ),
  );
  const actions = live.flatMap((r) => r.actions.timesMs.map((t) => ({ mark: 'action', target: r.target, t: t / 1000 })));
  return {
    ...FONT,
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'p99 latency over time (per 250 ms; vertical lines = actions)',
    data: { values: [...actions, ...latency] },
    facet: { row: { field: 'target', type: 'nominal', title: null, sort: live.map((r) => r.target) } },
    spec: {
      width: WIDTH,
      height: 140,
      layer: [
        {
          transform: [{ filter: "datum.mark === 'action'" }],
          mark: { type: 'rule', color: '#d62728', opacity: 0.15 },
          encoding: { x: { field: 't', type: 'quantitative' } },
        },
        {
          transform: [{ filter: "datum.mark === 'latency'" }],
          mark: { type: 'line', strokeWidth: 1.2, interpolate: 'step-after' },
          encoding: {
            x: { field: 't', type: 'quantitative', title: 'seconds' },
            y: { field: 'p99', type: 'quantitative', title: 'p99 ms', scale: { type: 'log' } },
            color: { field: 'kind', type: 'nominal', title: 'traffic' },
          },
        },
      ],
    },
  };
}

/** Process count and total RSS of each target's process tree over time. */
export function processChart(results: readonly TargetResult[]): TopLevelSpec {
  const values = results
    .filter((r) => !r.skipped)
    .flatMap((r) => r.samples.map((s) => ({ target: r.target, t: s.tMs / 1000, processes: s.processes, rss: s.rssBytes / (1 << 20) })));
  const panel = (field: string, title: string) => ({
    width: WIDTH,
    height: 160,
    mark: { type: 'line' as const, interpolate: 'step-after' as const },
    encoding: {
      x: { field: 't', type: 'quantitative' as const, title: 'seconds' },
      y: { field, type: 'quantitative' as const, title },
      color: { field: 'target', type: 'nominal' as const, title: 'target' },
    },
  });
  return {
    ...FONT,
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Processes and memory of each target over time',
    data: { values },
    vconcat: [panel('processes', 'processes'), panel('rss', 'RSS MB (sum)')],
  };
}
