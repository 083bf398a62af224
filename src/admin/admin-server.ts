// The admin API: HTTP over a unix socket (default, mode 0600) or loopback TCP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmod, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { AdminAddress } from '../config/address.js';
import { parseConfig } from '../config/load.js';
import { ConfigError } from '../config/errors.js';
import type { Controller } from '../control/controller.js';
import { summarizePlan } from '../control/plan.js';
import { ErrorCodes, HitlessError } from '../errors.js';
import type { Logger } from '../observability/log.js';
import { readBody, sendError, sendJson } from './http-util.js';
import { buildStatus } from './status.js';
import { Telemetry } from '../observability/telemetry.js';
import { sendMetrics } from './metrics-route.js';
import { isDashboardAsset, sendDashboardAsset } from './dashboard-route.js';
import { dashboardData } from './dashboard-data.js';
import { ownReport, startProcessMetrics, type ProcessReport, type ProcessReporter } from '../observability/process-metrics.js';

export interface AdminOptions {
  readonly address: AdminAddress;
  readonly token: string | null;
  readonly controller: Controller;
  readonly log: Logger;
  readonly startedAt: number;
  /** Apply stats, audit log and rate ring; created here when the caller did not (embedded use). */
  readonly telemetry?: Telemetry;
  /** Extra routes (the supervisor's POST /upgrade), asked first, after authorisation. */
  readonly extension?: AdminExtension;
}

export interface AdminExtension {
  /** Answers `route` ("POST /upgrade") and returns true, or returns false to let the built-in routes answer. */
  handle(route: string, req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export class AdminServer {
  private server: Server | null = null;
  readonly telemetry: Telemetry;

  constructor(private readonly options: AdminOptions) {
    this.telemetry = options.telemetry ?? new Telemetry(options.controller, options.log);
  }

  /** GET /status's document; /metrics and /dashboard/data are views of the same snapshot. */
  statusDocument() {
    return { ...buildStatus(this.options.controller, this.options.startedAt), applyStats: this.telemetry.applies.snapshot() };
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

  private authorised(req: IncomingMessage): boolean {
    const token = this.options.token;
    if (token === null) return true;
    const header = req.headers.authorization ?? '';
    const given = header.startsWith('Bearer ') ? header.slice(7) : '';
    // Compare digests so the comparison is constant-time whatever the lengths.
    const a = createHash('sha256').update(given).digest();
    const b = createHash('sha256').update(token).digest();
    return timingSafeEqual(a, b);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const assetPath = new URL(req.url ?? '/', 'http://admin').pathname;
    if (isDashboardAsset(req.method, assetPath)) return sendDashboardAsset(res, assetPath);
    if (!this.authorised(req)) {
      sendError(res, 401, ErrorCodes.UNAUTHORIZED, 'missing or wrong bearer token (Authorization: Bearer <admin.token>)');
      return;
    }
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const route = `${req.method} ${path}`;
    if (this.options.extension && (await this.options.extension.handle(route, req, res))) return;
    const { controller } = this.options;
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
      default: {
        const known = ['/status', '/config', '/config/validate', '/metrics', '/dashboard/data'].includes(path);
        if (known) sendError(res, 405, ErrorCodes.METHOD_NOT_ALLOWED, `${req.method} is not allowed on ${path}`);
        else sendError(res, 404, ErrorCodes.NOT_FOUND, `no admin endpoint ${route}; try GET /status, GET /config, PUT /config, POST /config/validate`);
      }
    }
  }

  private async putConfig(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { controller } = this.options;
    try {
      const text = await readBody(req);
      const snapshot = parseConfig(text, 'request');
      const ifMatch = req.headers['if-match'];
      const record = await controller.apply(snapshot, { origin: 'admin', ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined, peer: peerOf(req) });
      sendJson(res, 200, record, { etag: `"${controller.base?.hash ?? record.hashAfter}"` });
    } catch (err) {
      this.sendFailure(res, err, peerOf(req));
    }
  }

  private async validateConfig(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const snapshot = parseConfig(await readBody(req), 'request');
      const plan = this.options.controller.plan(snapshot);
      sendJson(res, 200, { valid: true, hash: snapshot.hash, summary: summarizePlan(plan), plan });
    } catch (err) {
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
      const status = { [ErrorCodes.PRECONDITION_FAILED]: 412, [ErrorCodes.BODY_TOO_LARGE]: 413, [ErrorCodes.BIND_FAILED]: 409 }[err.code as string] ?? 500;
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
