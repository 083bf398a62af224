// The HAProxy configuration shared by both HAProxy targets: one HTTP frontend (which also carries
// the Upgrade tunnels of the long-lived connections) in front of the bundled backends.
import { findBinary, capture } from './processes.js';
import type { Backend } from './backends.js';

export const HAPROXY_CANDIDATES = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy', '/usr/local/bin/haproxy'];

export interface HaproxyConfigOptions {
  readonly port: number;
  readonly backends: readonly Backend[];
  /** Master-worker seamless reloads need the listeners exposed on a stats socket. */
  readonly statsSocket?: string;
  /**
   * `option idle-close-on-response` (HAProxy >= 2.6): on soft stop, the old worker answers the
   * idle keep-alive and just-accepted connections it holds instead of closing them. hitless
   * renders it for its HAProxy data plane; the stock peers run without it.
   */
  readonly idleCloseOnResponse?: boolean;
  /** A TLS frontend to the same backends (cert-actions.ts: haproxyTlsFrontend). */
  readonly tlsFrontend?: string;
}

export function haproxyConfig(options: HaproxyConfigOptions): string {
  const stats = options.statsSocket ? `  stats socket ${options.statsSocket} mode 600 level admin expose-fd listeners\n` : '';
  const servers = options.backends.map((b, i) => `  server b${i + 1} 127.0.0.1:${b.httpPort}`).join('\n');
  return `global
  nbthread 1
  # HAProxy raises its fd limit to fit maxconn; keep it under common container limits.
  maxconn 4000
${stats}
defaults
  mode http
  timeout connect 2s
  timeout client 60s
  timeout server 60s
  # Long-lived connections are Upgrade tunnels; they may idle between pings.
  timeout tunnel 1h
  timeout http-keep-alive 60s
${options.idleCloseOnResponse ? '  option idle-close-on-response\n' : ''}
frontend web
  bind 127.0.0.1:${options.port}
  default_backend app

backend app
  balance roundrobin
${servers}
${options.tlsFrontend ?? ''}`;
}

export async function haproxyBinary(): Promise<string | undefined> {
  return findBinary(HAPROXY_CANDIDATES);
}

export async function haproxyVersion(): Promise<string | undefined> {
  const binary = await haproxyBinary();
  if (!binary) return undefined;
  const { output } = await capture(binary, ['-v']);
  return output.split('\n')[0]?.trim();
}

/** Checks the config with `haproxy -c` so a bad config fails with HAProxy's own words. */
export async function checkHaproxyConfig(binary: string, file: string): Promise<void> {
  const { code, output } = await capture(binary, ['-c', '-q', '-f', file]);
  if (code !== 0) throw new Error(`haproxy -c rejected ${file}: ${output.trim().split('\n').slice(-3).join(' | ')}`);
}
