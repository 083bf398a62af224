// What the data plane reports per finished exchange to an access log. The writer is injected
// (observability/ provides it), so the core never imports the edges (DESIGN.md).
import type { AccessLogConfig } from '../config/model.js';

/** One line of the access log; docs/access-log.md documents every field. */
export interface AccessRecord {
  readonly time: string;
  readonly client: string;
  readonly service: string;
  readonly mode: 'http' | 'tcp';
  readonly cluster: string | null;
  readonly endpoint: string | null;
  readonly method: string | null;
  readonly path: string | null;
  readonly status: number;
  readonly bytes_in: number;
  readonly bytes_out: number;
  readonly duration_ms: number;
  readonly retries: number;
  readonly error: string | null;
  readonly user_agent?: string;
  readonly referer?: string;
}

export type AccessWriter = (record: AccessRecord) => void;

/** Resolves a service's `access_log` setting to a writer, once per config applied. */
export type AccessWriterFactory = (config: AccessLogConfig) => AccessWriter;
