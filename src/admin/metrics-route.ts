// GET /metrics: the Prometheus exposition of the same snapshot GET /status returns, and the
// process metrics of every hitless process (one series per process, by its labels).
import type { ServerResponse } from 'node:http';
import { metricFamilies, renderMetrics, type MetricsInput } from '../observability/metrics.js';
import { labelled, type ProcessReport } from '../observability/process-metrics.js';

export async function sendMetrics(res: ServerResponse, status: MetricsInput, processes: readonly ProcessReport[]): Promise<void> {
  const { contentType, text } = await renderMetrics([metricFamilies(status), ...processes.map(labelled)]);
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
