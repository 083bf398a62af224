// A listen port for the discovery guard and endpoint-delta tests, from 24000-24999: a range no
// other test (helpers/ports.ts: 10000-19999) or bench (20000-23999) draws from.
import { portRange } from './ports.js';

export const listenPort = portRange(24_000, 24_999);
