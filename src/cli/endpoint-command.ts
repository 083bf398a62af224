// `hitless endpoint drain|maint|ready|weight|clear SERVICE ADDRESS` and `hitless endpoint list`:
// runtime endpoint overrides (HAProxy's `set server`) through the admin API's /overrides routes.
import { hostname, userInfo } from 'node:os';
import type { Command } from 'commander';
import { adminRequest, errorMessage, type AdminTarget } from './admin-client.js';
import { DEFAULT_ADMIN } from './defaults.js';
import { renderTable } from './table.js';

interface Options extends AdminTarget {
  readonly json?: boolean;
}

interface OverrideView {
  readonly service: string;
  readonly address: string;
  readonly state: string | null;
  readonly weight: number | null;
  readonly since: string;
  readonly by: string;
  readonly present?: boolean;
}

interface ChangeAnswer {
  readonly service: string;
  readonly address: string;
  readonly override: OverrideView | null;
  readonly present: boolean;
  readonly persisted: boolean;
  readonly warnings: readonly string[];
  readonly cleared?: boolean;
}

const ACTIONS: ReadonlyArray<{ name: string; what: string; body: Record<string, unknown> }> = [
  { name: 'drain', what: 'no new connections or requests to the endpoint; established ones continue; health checks continue', body: { state: 'drain' } },
  { name: 'maint', what: 'as drain, and its active health checks stop', body: { state: 'maint' } },
  { name: 'ready', what: 'back to normal traffic (clears drain or maint; a weight override stays)', body: { state: 'ready' } },
];

export function registerEndpointCommand(program: Command): void {
  const endpoint = program
    .command('endpoint')
    .description('runtime endpoint overrides (drain, maint, ready, weight) that survive applies and restarts until cleared');
  const common = (cmd: Command) =>
    cmd
      .option('--admin <address>', 'admin API address: unix:/path or host:port', DEFAULT_ADMIN)
      .option('--token <token>', 'admin bearer token (default: $HITLESS_ADMIN_TOKEN)')
      .option('--json', 'print the answer as JSON');

  for (const action of ACTIONS) {
    common(endpoint.command(action.name).description(action.what).argument('<service>', 'service name').argument('<address>', 'endpoint address, host:port'))
      .action((service: string, address: string, opts: Options) => change(opts, 'POST', service, address, action.body));
  }
  common(
    endpoint
      .command('weight')
      .description('balance with this weight (0-1000) instead of the configured one; "configured" removes the weight override')
      .argument('<service>', 'service name')
      .argument('<address>', 'endpoint address, host:port')
      .argument('<weight>', 'a whole number 0-1000, or "configured"'),
  ).action((service: string, address: string, weight: string, opts: Options) =>
    change(opts, 'POST', service, address, { weight: weight === 'configured' ? null : /^\d+$/.test(weight) ? Number(weight) : weight }),
  );
  common(endpoint.command('clear').description('remove every override of the endpoint (state and weight)').argument('<service>', 'service name').argument('<address>', 'endpoint address, host:port'))
    .action((service: string, address: string, opts: Options) => change(opts, 'DELETE', service, address));
  common(endpoint.command('list').description('every override, with whether its endpoint is in the service now')).action(list);
}

async function change(opts: Options, method: 'POST' | 'DELETE', service: string, address: string, body?: Record<string, unknown>): Promise<void> {
  const path = `/overrides/${encodeURIComponent(service)}/${encodeURIComponent(address)}`;
  const res = await adminRequest(opts, method, path, body === undefined ? undefined : JSON.stringify(body), { 'content-type': 'application/json', 'x-hitless-actor': actor() }).catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
  if (res.status !== 200) {
    if (opts.json) process.stdout.write(res.body.trimEnd() + '\n');
    process.stderr.write(`${errorMessage(res)}\n`);
    process.exitCode = 1;
    return;
  }
  const answer = JSON.parse(res.body) as ChangeAnswer;
  for (const warning of answer.warnings) process.stderr.write(`warning: ${warning}\n`);
  if (opts.json) {
    process.stdout.write(res.body.trimEnd() + '\n');
    return;
  }
  const o = answer.override;
  if (method === 'DELETE') process.stdout.write(`${service} ${answer.address}: ${answer.cleared ? 'override cleared' : 'had no override'}\n`);
  else if (!o) process.stdout.write(`${service} ${answer.address}: no override (ready, configured weight)\n`);
  else process.stdout.write(`${service} ${answer.address}: ${describe(o)}\n`);
}

async function list(opts: Options): Promise<void> {
  const res = await adminRequest(opts, 'GET', '/overrides').catch((err: Error) => {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  });
  if (res.status !== 200) {
    process.stderr.write(`${errorMessage(res)}\n`);
    process.exitCode = 1;
    return;
  }
  if (opts.json) {
    process.stdout.write(res.body.trimEnd() + '\n');
    return;
  }
  const doc = JSON.parse(res.body) as { stateFile: string | null; stateFileError: string | null; overrides: OverrideView[] };
  process.stdout.write(
    renderTable(
      ['SERVICE', 'ADDRESS', 'STATE', 'WEIGHT', 'IN SERVICE', 'SINCE', 'BY'],
      doc.overrides.map((o) => [o.service, o.address, o.state ?? 'ready', o.weight ?? 'configured', o.present ? 'yes' : 'no', o.since, o.by]),
    ) + '\n',
  );
  process.stdout.write(`state file: ${doc.stateFile ?? '(none: in memory only)'}\n`);
  if (doc.stateFileError) process.stderr.write(`warning: ${doc.stateFileError}\n`);
}

/** "drain, weight 5 (since ..., by ...)" */
export function describe(o: Pick<OverrideView, 'state' | 'weight' | 'since' | 'by'>): string {
  const parts = [o.state ?? 'ready', o.weight === null ? 'configured weight' : `weight ${o.weight}`];
  return `${parts.join(', ')} (since ${o.since}, by ${o.by})`;
}

/** Who asks, as the audit log and status show it. */
function actor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}@${hostname()}`;
  }
}
