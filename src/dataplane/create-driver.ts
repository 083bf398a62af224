// The data plane named by the config's global `dataplane.driver`, chosen once at start: a running
// hitless keeps its driver (a change is rejected by the driver with "restart needed").
import type { Config } from '../config/model.js';
import type { Logger } from '../observability/log.js';
import { BuiltinDriver, type BuiltinDriverOptions } from './builtin/builtin-driver.js';
import type { Driver } from './driver.js';
import { HaproxyDriver } from './haproxy/haproxy-driver.js';

export function createDriver(config: Config, log: Logger, builtin: BuiltinDriverOptions = {}): Driver {
  switch (config.dataplane.driver) {
    case 'haproxy':
      return new HaproxyDriver(config.dataplane.haproxy, log);
    case 'builtin':
      return new BuiltinDriver(builtin);
  }
}
