// `register:` — keep this host's services announced while they pass their checks. Each entry
// pairs a health checker with one registry entry; the checker decides, the entry makes the
// registry agree. sync() follows config reloads (unchanged entries keep running untouched).
import type { RegistrationConfig } from '../config/discovery-model.js';
import type { Logger } from '../observability/log.js';
import { createEntry } from './create-entry.js';
import { HealthChecker } from './health-check.js';
import type { RegistryEntry } from './registry-entry.js';

export interface RegistrationStatus {
  readonly service: string;
  readonly endpoint: string;
  readonly registry: string;
  readonly healthy: boolean;
  readonly registered: boolean;
  readonly lastError: string | null;
}

class Registration {
  readonly checker: HealthChecker;
  readonly entry: RegistryEntry;
  lastError: string | null = null;

  constructor(
    readonly config: RegistrationConfig,
    log: Logger,
  ) {
    const { host, port, name, weight, labels, target } = config;
    const value = JSON.stringify({ host, port, name, ...(weight === null ? {} : { weight }), ...(labels === null ? {} : { labels }) });
    const fields = { service: config.service, endpoint: `${host}:${port}` };
    const onError = (err: Error) => {
      this.lastError = err.message;
      log.warn({ ...fields, err: err.message }, 'registration problem; retrying');
    };
    this.entry = createEntry(target, name, value, onError);
    this.checker = new HealthChecker(config.check, host, port, (up) => {
      log.info({ ...fields, registry: this.entry.description }, up ? 'check passing: registering' : 'check failing: deregistering');
      this.entry.setWanted(up);
    });
  }
}

export class Registrar {
  private readonly running = new Map<string, Registration>();

  constructor(private readonly log: Logger) {}

  sync(configs: readonly RegistrationConfig[]): Promise<void> {
    const wanted = new Map(configs.map((c) => [JSON.stringify(c), c]));
    const stopping: Promise<void>[] = [];
    for (const [key, registration] of this.running) {
      if (wanted.has(key)) continue;
      this.running.delete(key);
      stopping.push(this.stopOne(registration));
    }
    for (const [key, config] of wanted) {
      if (this.running.has(key)) continue;
      const registration = new Registration(config, this.log);
      this.running.set(key, registration);
      registration.checker.start();
    }
    return Promise.all(stopping).then(() => {});
  }

  status(): RegistrationStatus[] {
    return [...this.running.values()].map((r) => ({
      service: r.config.service,
      endpoint: `${r.config.host}:${r.config.port}`,
      registry: r.entry.description,
      healthy: r.checker.isUp,
      registered: r.entry.registered,
      lastError: r.lastError,
    }));
  }

  /** Deregisters everything (on shutdown). */
  stop(): Promise<void> {
    return this.sync([]);
  }

  private async stopOne(registration: Registration): Promise<void> {
    registration.checker.stop();
    await registration.entry.stop();
  }
}
