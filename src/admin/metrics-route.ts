// GET /metrics: the Prometheus exposition of the same snapshot GET /status returns.
import type { ServerResponse } from 'node:http';
import { metricFamilies, renderMetrics, type MetricsInput } from '../observability/metrics.js';

export async function sendMetrics(res: ServerResponse, status: MetricsInput): Promise<void> {
  const { contentType, text } = await renderMetrics([metricFamilies(status)]);
  res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
