// Passive ejection: consecutive failures (connect errors, resets, and in http mode 5xx answers)
// take an endpoint out of rotation for a back-off period; one success resets the streak.
import type { PassiveHealthConfig } from '../../config/model.js';
import type { EndpointState } from '../endpoint-state.js';

export function recordFailure(state: EndpointState, passive: PassiveHealthConfig | null): void {
  state.failures++;
  state.consecutiveFailures++;
  if (passive && state.consecutiveFailures >= passive.consecutiveFailures) state.eject(passive.ejection);
}

export function recordSuccess(state: EndpointState): void {
  state.consecutiveFailures = 0;
}
