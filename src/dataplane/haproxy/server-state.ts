// The `show servers state` dump, adjusted before the new worker loads it. HAProxy restores a
// server's runtime weight when its configured weight did not change, but hitless's file always
// carries the weights it wants; and servers we were draining for deletion must not come back
// drained if the new config has them again. So: weights from the new config, drained-by-us lines
// dropped; health (op state) and operator maint/drain kept as they were.
import type { RenderedConfig } from './render-config.js';

// Columns of format version 1: be_id be_name srv_id srv_name srv_addr srv_op_state
// srv_admin_state srv_uweight srv_iweight ...
const BE_NAME = 1;
const SRV_NAME = 3;
const UWEIGHT = 7;
const IWEIGHT = 8;

export function prepareServerState(dump: string, next: RenderedConfig, removing: ReadonlySet<string>): string {
  const lines = dump.split('\n');
  if (lines[0]?.trim() !== '1') return '1\n';
  const out: string[] = [];
  for (const line of lines) {
    if (line.trim() === '' || line.startsWith('#') || line.trim() === '1') {
      if (line.trim() !== '') out.push(line);
      continue;
    }
    const fields = line.split(' ');
    const key = `${fields[BE_NAME]}/${fields[SRV_NAME]}`;
    if (removing.has(key)) continue;
    const server = next.backends.get(fields[BE_NAME])?.servers.get(fields[SRV_NAME]);
    if (server && fields.length > IWEIGHT) {
      fields[UWEIGHT] = String(server.weight);
      fields[IWEIGHT] = String(server.weight);
    }
    out.push(fields.join(' '));
  }
  return `${out.join('\n')}\n`;
}
