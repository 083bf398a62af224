// The admin API: HTTP over a unix socket (default, mode 0600) or loopback TCP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import type { AdminAddress } from '../config/address.js';
import { parseConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import type { ApplyRecord, Controller } from '../control/controller.js';
import { summarizePlan } from '../control/plan.js';
import { ErrorCodes, HitlessError, httpStatusOf } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { readBody, sendError, sendJson } from './http-util.js';
import { buildStatus } from './status.js';
import { Telemetry } from '../observability/telemetry.js';
import { sendMetrics } from './metrics-route.js';
import { isDashboardAsset, sendDashboardAsset } from './dashboard-route.js';
import { dashboardData } from './dashboard-data.js';
import type { ConfigFile } from '../control/config-file.js';
import { Authorizer, READ_ROUTES } from './roles.js';
import { readiness } from './readiness.js';
import { ownReport, startProcessMetrics, type ProcessReport, type ProcessReporter } from '../observability/process-metrics.js';
import type { EndpointOverrides } from '../control/endpoint-overrides.js';
import { handleOverrideRoute, isOverrideRoute } from './override-routes.js';
import { withOverrides } from './override-status.js';

export interface AdminOptions {
  readonly address: AdminAddress;
  /** The admin role's bearer token; null: every client that reaches the API is admin. */
  readonly token: string | null;
  /** The read-only role's bearer token (status, metrics, dashboard data); null: none. */
  readonly readToken?: string | null;
  readonly controller: Controller;
  /** The config file this instance runs from (an API apply is written to it, status compares it). */
  readonly configFile: ConfigFile;
  readonly log: Logger;
  readonly startedAt: number;
  /** Apply stats, audit log and rate ring; created here when the caller did not (embedded use). */
  readonly telemetry?: Telemetry;
  /** Extra routes (the supervisor's POST /upgrade), asked first, after authorisation. */
  readonly extension?: AdminExtension;
  /** POST /config/reload: re-read the config file hitless runs from (absent: started from text). */
  readonly reload?: (peer: string) => Promise<ApplyRecord>;
  /** Runtime endpoint overrides (/overrides routes, and their part of GET /status). */
  readonly overrides?: EndpointOverrides;
}

export interface AdminExtension {
  /** Answers `route` ("POST /upgrade") and returns true, or returns false to let the built-in routes answer. */
  handle(route: string, req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export class AdminServer {
  private server: Server | null = null;
  readonly telemetry: Telemetry;
  private readonly auth: Authorizer;

  constructor(private readonly options: AdminOptions) {
    this.telemetry = options.telemetry ?? new Telemetry(options.controller, options.log);
    this.auth = new Authorizer(options.token, options.readToken ?? null);
  }

  /** GET /status's document; /metrics and /dashboard/data are views of the same snapshot. */
  statusDocument() {
    return withOverrides({ ...buildStatus(this.options.controller, this.options.startedAt, this.options.configFile), applyStats: this.telemetry.applies.snapshot() }, this.options.overrides);
  }

  /** Every hitless process's metrics: the supervisor's and its workers', or this one process's. */
  private processReports(): Promise<ProcessReport[]> {
    const driver = this.options.controller.driver as Partial<ProcessReporter>;
    if (driver.processReports) return driver.processReports();
    return ownReport('standalone').then((r) => [r]);
  }

  async start(): Promise<void> {
    const { address } = this.options;
    // prom-client is already loaded here (metrics.ts): the monitors start with the admin API.
    void startProcessMetrics();
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.options.log.error({ err }, 'admin request failed');
        if (!res.headersSent) sendError(res, 500, ErrorCodes.INTERNAL, (err as Error).message);
        else res.destroy();
      });
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    if (address.kind === 'unix') await removeStaleSocket(address.path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new HitlessError(ErrorCodes.BIND_FAILED, `cannot start the admin API on ${address.key}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`)),
      );
      if (address.kind === 'unix') server.listen(address.path, resolve);
      else server.listen({ host: address.host, port: address.port, exclusive: true }, resolve);
    });
    if (address.kind === 'unix') await chmod(address.path, 0o600);
    server.on('error', (err) => this.options.log.error({ err }, 'admin server error'));
    this.server = server;
    this.telemetry.sampler.start();
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.telemetry.sampler.stop();
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    if (isDashboardAsset(req.method, path)) return sendDashboardAsset(res, path);
    // Probes carry no token (a Kubernetes httpGet probe cannot send one); they reveal no names.
    if ((req.method === 'GET' || req.method === 'HEAD') && (path === '/live' || path === '/ready')) return this.probe(path, res);
    const role = this.auth.roleOf(req.headers.authorization);
    if (role === null) {
      const which = this.options.readToken ? 'admin.token, or admin.read_token to read' : 'admin.token';
      sendError(res, 401, ErrorCodes.UNAUTHORIZED, `missing or wrong bearer token (Authorization: Bearer <${which}>)`);
      return;
    }
    const route = `${req.method} ${path}`;
    if (role === 'read' && !READ_ROUTES.has(route)) {
      req.resume();
      sendError(
        res,
        403,
        ErrorCodes.FORBIDDEN,
        `the read-only token (admin.read_token) may only ${[...READ_ROUTES].join(', ')}; ${route} needs admin.token`,
      );
      return;
    }
    if (this.options.extension && (await this.options.extension.handle(route, req, res))) return;
    const { controller } = this.options;
    if (isOverrideRoute(path)) {
      if (!this.options.overrides) return sendError(res, 501, ErrorCodes.NOT_IMPLEMENTED, 'this instance has no endpoint overrides');
      return handleOverrideRoute(this.options.overrides, req, res, path, peerOf(req));
    }
    switch (route) {
      case 'GET /status':
        // Indented on request (?pretty); compact otherwise: at 10,000 endpoints it is megabytes.
        sendJson(res, 200, this.statusDocument(), {}, !new URL(req.url ?? '/', 'http://admin').searchParams.has('pretty'));
        return;
      case 'GET /metrics':
        return sendMetrics(res, this.statusDocument(), await this.processReports());
      case 'GET /dashboard/data': {
        const processes = await this.processReports();
        sendJson(res, 200, dashboardData(this.statusDocument(), controller, this.telemetry, processes), { 'cache-control': 'no-store' }, true);
        return;
      }
      case 'GET /config': {
        const current = controller.current;
        if (!current) return sendError(res, 404, ErrorCodes.NOT_FOUND, 'no config is running yet');
        // The ETag names the written config (what If-Match is checked against), not discovery's merge.
        res.writeHead(200, { 'content-type': 'application/yaml', etag: `"${controller.base?.hash ?? current.hash}"` });
        res.end(current.text);
        return;
      }
      case 'PUT /config':
        return this.putConfig(req, res);
      case 'POST /config/validate':
        return this.validateConfig(req, res);
      case 'POST /config/reload':
        return this.reloadConfig(req, res);
      default: {
        const known = ['/status', '/config', '/config/validate', '/config/reload', '/metrics', '/dashboard/data', '/live', '/ready'].includes(path);
        if (known) sendError(res, 405, ErrorCodes.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${path}`);
        else sendError(res, 404, ErrorCodes.NOT_FOUND, `no admin endpoint ${route}; try GET /status, GET /config, PUT /config, POST /config/validate, POST /config/reload, GET /overrides, GET /ready, GET /live`);
      }
    }
  }

  /** /live: the event loop answers. /ready: see readiness.ts. 503 with the reasons otherwise. */
  private probe(path: string, res: ServerResponse): void {
    const headers = { 'cache-control': 'no-store' };
    if (path === '/live') return sendJson(res, 200, { live: true }, headers, true);
    const r = readiness(this.options.controller);
    sendJson(res, r.ready ? 200 : 503, r, headers, true);
  }

  private async putConfig(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { controller, configFile } = this.options;
    try {
      // The running config's rule decides (a PUT cannot lift a refusal it is itself subject to).
      if (controller.base?.config.admin.apiApply === 'refuse') {
        req.resume();
        throw new HitlessError(
          ErrorCodes.API_APPLY_REFUSED,
          `admin.api_apply is refuse: this instance takes its config only from ${configFile.path ?? 'its config file'}; edit the file and send SIGHUP (systemctl reload hitless)`,
        );
      }
      const text = await readBody(req);
      const snapshot = parseConfig(text, 'request');
      const ifMatch = req.headers['if-match'];
      const record = await controller.apply(snapshot, {
        origin: 'admin',
        source: 'api',
        ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined,
        peer: peerOf(req),
        persist: (base) => configFile.persist(base),
      });
      // The warning at the top too, so that nobody reading the answer misses it.
      sendJson(res, 200, { ...(record.file?.warning ? { warning: record.file.warning } : {}), ...record }, { etag: `"${controller.base?.hash ?? record.hashAfter}"` });
    } catch (err) {
      this.sendFailure(res, err, peerOf(req));
    }
  }

  /**
   * The apply path minus the commit: parse, plan, and the data plane's prepare (new ports bound,
   * `haproxy -c`, every worker's prepare), then abort. A rejection answers as PUT /config would
   * (409 bind failure, 422 data-plane refusal, ...), and nothing changes nor is recorded.
   */
  private async validateConfig(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const snapshot = parseConfig(await readBody(req), 'request');
      const { plan, prepared } = await this.options.controller.validate(snapshot);
      sendJson(res, 200, { valid: true, hash: snapshot.hash, summary: summarizePlan(plan), plan, prepared });
    } catch (err) {
      this.sendFailure(res, err, null);
    }
  }

  /** SIGHUP's re-read of the config file, answered: 200 with the apply record, or the rejection. */
  private async reloadConfig(req: IncomingMessage, res: ServerResponse): Promise<void> {
    req.resume();
    const { reload } = this.options;
    if (!reload) return sendError(res, 409, ErrorCodes.NO_CONFIG_FILE, 'this hitless was started from config text, not a file: there is no file to re-read; use PUT /config');
    try {
      const record = await reload(peerOf(req));
      sendJson(res, 200, record, { etag: `"${this.options.controller.base?.hash ?? record.hashAfter}"` });
    } catch (err) {
      // Already recorded (and audited) by the reload itself.
      this.sendFailure(res, err, null);
    }
  }

  /** `peer`: the requester of a PUT /config whose rejection is recorded (and audited); null: not recorded. */
  private sendFailure(res: ServerResponse, err: unknown, peer: string | null): void {
    if (err instanceof ConfigError) {
      const e = new HitlessError(ErrorCodes.CONFIG_INVALID, err.message, err.problems);
      if (peer !== null) this.options.controller.recordRejected('admin', e, peer);
      return sendError(res, 400, e.code, e.message, e.details);
    }
    if (err instanceof HitlessError) {
      if (peer !== null && err.code === ErrorCodes.API_APPLY_REFUSED) this.options.controller.recordRejected('admin', err, peer, 'refused: admin.api_apply is refuse');
      const status = httpStatusOf(err.code);
      return sendError(res, status, err.code, err.message, err.details);
    }
    throw err;
  }
}

/** "ip:port" of a TCP peer, "unix" for the socket (whose access the file mode already limits). */
function peerOf(req: IncomingMessage): string {
  const { remoteAddress, remotePort } = req.socket;
  if (!remoteAddress) return 'unix';
  return remoteAddress.includes(':') ? `[${remoteAddress}]:${remotePort}` : `${remoteAddress}:${remotePort}`;
}

/** A socket file left by a crashed instance is removed; one that answers belongs to a live instance. */
async function removeStaleSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw new HitlessError(ErrorCodes.BIND_FAILED, `cannot start the admin API on unix:${path}: another process is serving it (another hitless?); set admin.listen to another path`);
  }
  await unlink(path).catch(() => {});
}
