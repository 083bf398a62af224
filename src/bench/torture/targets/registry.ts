// The built-in targets, in the order they run. New targets (hitless with the HAProxy data plane,
// hitless upgrade generations, Caddy, Envoy...) are added here.
import { haproxyMwIdleCloseTarget, haproxyMwTarget, haproxyRuntimeCertTarget } from './haproxy-mw.js';
import { haproxySfTarget } from './haproxy-sf.js';
import { hitlessHttpTarget, hitlessTarget, hitlessUpgradeTarget } from './hitless.js';
import { hitlessHaproxyTarget } from './hitless-haproxy.js';
import { nginxTarget } from './nginx.js';
import type { TargetDefinition } from './target.js';

export const BUILTIN_TARGETS: readonly TargetDefinition[] = [hitlessTarget, hitlessHttpTarget, hitlessUpgradeTarget, hitlessHaproxyTarget, haproxySfTarget, haproxyMwTarget, haproxyMwIdleCloseTarget, haproxyRuntimeCertTarget, nginxTarget];

export function findTarget(name: string): TargetDefinition {
  const target = BUILTIN_TARGETS.find((t) => t.name === name);
  if (!target) {
    throw new Error(`unknown target "${name}"; built-in targets: ${BUILTIN_TARGETS.map((t) => t.name).join(', ')}`);
  }
  return target;
}
