// What each config key means, for docs/configuration.md (scripts/gen-config-doc.ts walks the
// schema for the keys, their types and bounds; DEFAULTS gives the defaults; this gives the prose).
// Paths use "*" for map keys and "[]" for list items. A key missing here is listed as
// undocumented by the generator, and `--check` fails on it.
import { DEFAULTS } from '../src/config/schema.js';
import { DISCOVERY_DEFAULTS } from '../src/config/discovery-schema.js';
import { TLS_DEFAULTS } from '../src/config/tls-schema.js';

const ms = (n: number): string => (n % 3_600_000 === 0 ? `${n / 3_600_000}h` : n % 60_000 === 0 ? `${n / 60_000}m` : n % 1000 === 0 ? `${n / 1000}s` : `${n}ms`);
const t = DEFAULTS.timeouts;
const h = DEFAULTS.health;
const dd = DISCOVERY_DEFAULTS;
const hp = DEFAULTS.dataplane.haproxy;

export interface KeyText {
  readonly text: string;
  /** Overrides the type the walker infers (strings parsed by our own functions look like "any"). */
  readonly type?: string;
  readonly default?: string;
}

const DURATION = 'duration (500ms, 2s, 10m, 1h)';

const timeouts = (prefix: string): Record<string, KeyText> => ({
  [`${prefix}`]: { text: 'Timeouts.' },
  [`${prefix}.connect`]: { type: DURATION, default: ms(t.connect), text: "Time for an endpoint's TCP handshake before the next endpoint is tried." },
  [`${prefix}.idle`]: { type: DURATION, default: `${ms(t.idle)} (tcp), ${ms(DEFAULTS.httpIdle)} (http keep-alive)`, text: 'Without traffic for this long, a proxied connection is closed (0: never). HTTP: also the longest pause within a request body; a stalled upload is answered 408.' },
  [`${prefix}.drain`]: { type: DURATION, default: ms(t.drain), text: 'Connections of a removed listener or service may finish for this long, then are closed.' },
  [`${prefix}.header`]: { type: DURATION, default: ms(t.header), text: "HTTP: time to receive a request's headers (slowloris guard); 408 after it." },
  [`${prefix}.response`]: { type: DURATION, default: ms(t.response), text: 'HTTP: time for an endpoint to start its response; 504 after it.' },
  [`${prefix}.handshake`]: { type: DURATION, default: ms(t.handshake), text: "TLS (services with tls:): time for a client's TLS handshake, from the accept; the connection is closed after it and counted (hitless_tls_handshake_failures_total, reason timeout)." },
});

/** `upstream_tls:` (TLS to the endpoints) on a service and on a cluster. */
const upstreamTls = (prefix: string, inherited: boolean): Record<string, KeyText> => ({
  [prefix]: {
    default: inherited ? "the service's upstream_tls (none: plain TCP)" : 'none: plain TCP to the endpoints',
    text: `TLS from hitless to the endpoints${inherited ? ' of this cluster (replaces the service\'s section as a whole)' : ' of every cluster without its own section'}: http (pooled keep-alive TLS connections, reused like plain ones), tcp (the endpoint side is wrapped in TLS), upgrades and active health checks. The endpoint's certificate is verified (chain and name) unless insecure_skip_verify. A verification failure answers 502 HITLESS_ERR_UPSTREAM_TLS_VERIFY, a failed handshake 502 HITLESS_ERR_UPSTREAM_TLS_HANDSHAKE; both are connect failures, tried on the next endpoint (retries). Files are read and checked when the config is parsed (like tls:) and watched: a rotated client certificate or CA file reaches new connections, pooled ones finish. See README, "TLS to endpoints".`,
  },
  [`${prefix}.ca_file`]: { type: 'path', default: 'the system CA bundle (/etc/ssl/certs/ca-certificates.crt and the usual other places; Node\'s own roots when none is found; HAProxy: @system-ca)', text: "PEM file of the CA certificates the endpoints' certificates must chain to (checked when read: readable, certificates, none expired)." },
  [`${prefix}.server_name`]: {
    default: "the endpoint's host: a name is sent as SNI and verified against the certificate's DNS names; an IP address is sent without SNI and verified against the certificate's IP SANs (the HAProxy data plane cannot check IP SANs: set server_name there)",
    text: 'The name sent as SNI and verified against the certificate, for every endpoint of the cluster (an IP address: verified against IP SANs, no SNI).',
  },
  [`${prefix}.cert`]: { type: 'path', text: 'Client certificate for endpoints that require one (mTLS): PEM, the leaf first, then its intermediates. Needs key. Checked like tls: certificates (chain order, key match, validity).' },
  [`${prefix}.key`]: { type: 'path', text: "The client certificate's private key (PEM). Decrypted once by the process that reads it; the HAProxy data plane gets certificate and key as one PEM file, mode 0600, in its state_dir." },
  [`${prefix}.passphrase`]: { text: 'Passphrase of an encrypted client key, in the config itself; prefer passphrase_file.' },
  [`${prefix}.passphrase_file`]: { type: 'path', text: "File whose first line is the client key's passphrase; watched like the key." },
  [`${prefix}.insecure_skip_verify`]: { default: 'false', text: "DANGER: accept any certificate from the endpoints, unverified (traffic can be read and changed by anyone on the path). Logged as a warning at every apply that has it, shown in GET /status (upstreamTls.insecureSkipVerify) and in metrics (hitless_tls_upstream_insecure_skip_verify). Cannot be combined with ca_file." },
  [`${prefix}.min_version`]: { default: TLS_DEFAULTS.minVersion, text: 'Oldest TLS version offered to endpoints: TLSv1.2 or TLSv1.3.' },
  [`${prefix}.ciphers`]: { default: "Node's default list", text: 'OpenSSL cipher list offered to endpoints (TLS 1.2 suites and TLS 1.3 TLS_* names; the HAProxy data plane splits them into ciphers and ciphersuites).' },
  [`${prefix}.alpn`]: { default: 'http/1.1 (http); none (tcp)', text: 'ALPN protocols offered to endpoints. http mode speaks HTTP/1.1 to endpoints (h2 is refused).' },
  [`${prefix}.alpn[]`]: { text: 'One protocol name.' },
});

const health = (prefix: string): Record<string, KeyText> => ({
  [prefix]: { text: 'Health checking of the endpoints.' },
  [`${prefix}.active`]: { text: 'Active checks; absent: endpoints are presumed up.' },
  [`${prefix}.active.type`]: { default: h.type, text: 'A TCP connect, or an HTTP GET expecting 2xx/3xx.' },
  [`${prefix}.active.path`]: { default: h.path, text: 'HTTP check path.' },
  [`${prefix}.active.interval`]: { type: DURATION, default: ms(h.interval), text: 'Time between checks of one endpoint.' },
  [`${prefix}.active.timeout`]: { type: DURATION, default: ms(h.timeout), text: 'A check slower than this fails.' },
  [`${prefix}.active.rise`]: { default: String(h.rise), text: 'Consecutive successes that bring a down endpoint up.' },
  [`${prefix}.active.fall`]: { default: String(h.fall), text: 'Consecutive failures that take an up endpoint down.' },
  [`${prefix}.passive`]: { text: 'Passive ejection from live traffic; absent: none.' },
  [`${prefix}.passive.consecutive_failures`]: { default: String(DEFAULTS.passive.consecutiveFailures), text: 'Consecutive connect failures (or http 5xx) that eject an endpoint.' },
  [`${prefix}.passive.ejection`]: { type: DURATION, default: ms(DEFAULTS.passive.ejection), text: 'How long an ejected endpoint stays out.' },
});

const limits = (prefix: string): Record<string, KeyText> => ({
  [prefix]: { text: 'HTTP request limits.' },
  [`${prefix}.max_header_bytes`]: { default: String(DEFAULTS.limits.maxHeaderBytes), text: 'Largest request header block; 431 beyond.' },
  [`${prefix}.max_url_bytes`]: { default: String(DEFAULTS.limits.maxUrlBytes), text: 'Longest request target; 414 beyond.' },
});

const endpoints = (prefix: string): Record<string, KeyText> => ({
  [prefix]: { text: 'Endpoints: "host:port" strings, or maps with address and weight.' },
  [`${prefix}[]`]: { type: '"host:port" or map', text: 'One endpoint; hostnames are resolved at connect time.' },
  [`${prefix}[].address`]: { type: '"host:port"', text: 'The endpoint address.' },
  [`${prefix}[].weight`]: { default: String(DEFAULTS.weight), text: 'Share of traffic relative to the other endpoints; 0 drains it.' },
});

const zookeeper = (prefix: string, use: string): Record<string, KeyText> => ({
  [prefix]: { text: `ZooKeeper: ${use}` },
  [`${prefix}.hosts`]: { type: '"host:port,host:port" or list', text: 'The ensemble members. Sources and registrations with the same hosts and session_timeout share one session.' },
  [`${prefix}.path`]: { type: 'absolute znode path', text: "The service's parent znode (e.g. /services/web); its children are the endpoints, each holding nerve's JSON." },
  [`${prefix}.session_timeout`]: { type: DURATION, default: ms(dd.sessionTimeout), text: 'ZooKeeper session timeout asked for; on expiry a new session is opened and watches (or the ephemeral node) re-created.' },
});

const etcd = (prefix: string, use: string): Record<string, KeyText> => ({
  [prefix]: { text: `etcd (v3): ${use}` },
  [`${prefix}.endpoints`]: { type: 'URL or list', text: 'Client URLs of the cluster; "host:port" means http://host:port.' },
  [`${prefix}.endpoints[]`]: { type: 'URL or "host:port"', text: 'One client URL.' },
  [`${prefix}.prefix`]: { text: "Key prefix of the service (a trailing \"/\" is added if missing, so /web never matches /web2/…); each key under it is one endpoint, its value nerve's JSON." },
});

export const KEY_TEXT: Record<string, KeyText> = {
  admin: { text: 'The admin API (status, config, metrics, dashboard).' },
  'admin.listen': { type: '"unix:/path" or "ip:port"', default: 'unix:$RUNTIME_DIRECTORY/admin.sock under systemd (RuntimeDirectory=, /run/hitless/admin.sock in the packaged unit), else unix:$TMPDIR/hitless-admin.sock (os.tmpdir())', text: 'Where the admin API listens. A unix socket is created with mode 0600. A non-loopback TCP address requires admin.token (the config is refused otherwise).' },
  'admin.token': { text: 'Bearer token of the admin role (Authorization: Bearer TOKEN), 16 characters or more, compared in constant time. With it set, every admin request must carry it or admin.read_token, except GET /live, GET /ready and the dashboard page itself. Without it, every client that reaches the admin API may change the config (allowed only on loopback or a unix socket).' },
  'admin.read_token': { text: 'Bearer token of the read-only role, 16 characters or more, different from admin.token (which it needs): GET /status, GET /metrics, GET /dashboard/data and GET /overrides only, e.g. for a metrics scraper or dashboard viewers. Anything else, GET /config included (its text holds the tokens), answers 403 HITLESS_ERR_FORBIDDEN. Changes take effect at the next restart, like admin.token.' },
  'admin.api_apply': {
    default: DEFAULTS.apiApply,
    text: 'What a config applied through the admin API (PUT /config, hitless apply) does to the config file, so that SIGHUP and a restart never silently undo it. write-file: once applied, the submitted text replaces the file atomically (the previous content kept as FILE.prev, mode kept); when the file cannot be written the apply still holds and the answer, the log and GET /status say that the file differs. keep-file: never write the file; an API apply of text other than the file holds is reported as differing from it (SIGHUP or a restart loads the file). refuse: PUT /config answers 403 HITLESS_ERR_API_APPLY_REFUSED; the file is the only way in. refuse is that of the config running when the PUT arrives; write-file / keep-file those of the config applied. See docs/operations.md, "Where the running config comes from".',
  },
  'admin.audit_log': { text: 'File that gets one append-only JSON line per config change (time, origin, peer, hashes, diff); created with mode 0600. Absent: audit lines go to the main log (msg "audit").' },
  defaults: { text: 'Settings every service inherits unless it sets its own.' },
  'defaults.balance': { default: DEFAULTS.balance, text: 'Default balancing algorithm.' },
  ...timeouts('defaults.timeouts'),
  ...health('defaults.health'),
  ...limits('defaults.limits'),
  'defaults.retries': { default: String(DEFAULTS.retries), text: 'Default number of other endpoints tried after a failed connect.' },
  'defaults.max_connections': { default: 'unlimited', text: 'Default cap on concurrent client connections per service.' },
  services: { text: 'The services, by name (letters, digits, ".", "_", "-").' },
  'services.*': { text: 'One service: what it listens on and where it sends traffic.' },
  'services.*.mode': { default: DEFAULTS.mode, text: 'tcp: bytes are spliced; http: requests are parsed, routed and balanced one by one.' },
  'services.*.listen': { type: '"ip:port" or list', text: 'Listen address(es); literal IPs, "localhost" or "*". An address stays bound across applies as long as some service lists it.' },
  'services.*.listen[]': { type: '"ip:port"', text: 'One listen address.' },
  'services.*.balance': { default: DEFAULTS.balance, text: 'Balancing algorithm of the default cluster.' },
  ...endpoints('services.*.endpoints'),
  ...health('services.*.health'),
  ...upstreamTls('services.*.upstream_tls', false),
  'services.*.clusters': { text: 'HTTP: named groups of endpoints that routes send requests to.' },
  'services.*.clusters.*': { text: 'One cluster.' },
  'services.*.clusters.*.balance': { default: 'the service balance', text: 'Balancing algorithm of the cluster.' },
  ...endpoints('services.*.clusters.*.endpoints'),
  ...health('services.*.clusters.*.health'),
  ...upstreamTls('services.*.clusters.*.upstream_tls', true),
  'services.*.routes': { text: 'HTTP: first match wins; a route without host and path is the catch-all.' },
  'services.*.routes[]': { text: 'One route.' },
  'services.*.routes[].host': { text: 'Exact host or "*.suffix" (optionally with :port).' },
  'services.*.routes[].path': { text: 'Path prefix.' },
  'services.*.routes[].cluster': { text: 'The cluster matching requests go to.' },
  ...timeouts('services.*.timeouts'),
  ...limits('services.*.limits'),
  'services.*.retries': { default: String(DEFAULTS.retries), text: 'Other endpoints tried after a failed connect (http: also a request reset before any response byte when it is idempotent or its body had not started; a pooled connection the endpoint had already closed is replaced by a fresh one to the same endpoint without counting as a try).' },
  'services.*.max_connections': { default: 'unlimited', text: 'Cap on concurrent client connections; tcp connections beyond it are closed at once, counted as rejected. With worker processes (`hitless run --workers N`, the default) each worker enforces its share, ceil(max_connections / N): the kernel spreads connections over the workers, so a connection may be refused by a full worker while another has room, and the total can reach N × ceil(max_connections / N).' },
  'services.*.access_log': { text: 'One line per request (http) or connection (tcp); see docs/access-log.md.' },
  'services.*.access_log.path': { type: 'path or "stderr"', text: 'File to append to (created if missing, reopened on SIGHUP for logrotate), or "stderr". Buffered: lines reach the file within a second.' },
  'services.*.access_log.format': { default: DEFAULTS.accessLogFormat, text: 'json (one object per line) or combined (nginx combined + key=value fields).' },
  'services.*.tls': { text: 'TLS termination: clients speak TLS to hitless, which serves the certificate their SNI names and passes the decrypted traffic on (http: to the HTTP proxy, X-Forwarded-Proto https; tcp: to the endpoint in plain text). The listening socket stays the same plain TCP socket across applies; a certificate change (config, or the files on disk: their directories are watched) swaps the secure contexts in place: open connections continue, the next handshake gets the new certificate. Every file is read and checked when the config is parsed (hitless validate, PUT, SIGHUP, a change on disk); a problem rejects the config with the file and the reason, and the running certificates keep serving. On the HAProxy data plane: bind ... ssl crt-list, renewals through its runtime API with no reload (README, "HAProxy data plane"). See README, "TLS".' },
  'services.*.tls.certificates': { text: 'The certificates, at least one. SNI picks among them: an exact name first, then a "*.suffix" wildcard (one label), then the default. A name served by two certificates goes to the first listed.' },
  'services.*.tls.certificates[]': { text: 'One certificate and its key.' },
  'services.*.tls.certificates[].cert': { type: 'path', text: 'PEM file: the leaf certificate first, then its intermediates, each issued by the next (checked: a chain in another order is refused). Relative paths are taken from the working directory of hitless.' },
  'services.*.tls.certificates[].key': { type: 'path', text: "PEM private key of the leaf (PKCS#8, PKCS#1 or SEC1; ECDSA, RSA, Ed25519). Checked against the certificate; decrypted once by the process that reads it (workers get it decrypted over IPC, never the passphrase); on the HAProxy data plane it is written decrypted, 0600, into dataplane.haproxy.state_dir/tls (HAProxy 2.6 takes a passphrase only on a terminal)." },
  'services.*.tls.certificates[].passphrase': { text: "Passphrase of an encrypted key, in the config itself (never shown in errors); prefer passphrase_file." },
  'services.*.tls.certificates[].passphrase_file': { type: 'path', text: "File whose first line is the key's passphrase (as openssl -passin file: reads it); watched like the certificate files." },
  'services.*.tls.certificates[].ocsp': { type: 'off | fetch', default: 'off', text: 'OCSP stapling from the responder named in the certificate. `fetch` is not available yet and is refused; staple a response file with ocsp_file.' },
  'services.*.tls.certificates[].ocsp_file': { type: 'path', text: 'A DER OCSP response stapled to clients that ask (as nginx `ssl_stapling_file`, HAProxy `.ocsp`), builtin data plane only. Checked before use: for this certificate (serial and issuer; the issuer must follow the leaf in `cert`), good (not revoked), signed by the issuer or a delegated responder; anything else refuses the config. Watched like the certificate: a renewed file is stapled at the next handshake; one past its nextUpdate is never stapled.' },
  'services.*.tls.certificates[].names': { default: 'the certificate\'s subjectAltName DNS names, then its CN when it is a host name', text: 'SNI names this certificate serves: exact names and "*.suffix" wildcards, each of which the certificate must cover (a name it does not cover is refused: clients would reject it). Use it to restrict a wildcard certificate or to decide between two certificates that share names.' },
  'services.*.tls.certificates[].names[]': { text: 'One name.' },
  'services.*.tls.default': { default: 'the first certificate', text: 'A name of the certificate served when the SNI matches no name, or when the client sends none (an IP address, an old client). An unknown name is not a handshake failure: it gets the default certificate (counted in hitless_tls_sni_total{match="default"}).' },
  'services.*.tls.min_version': { default: TLS_DEFAULTS.minVersion, text: 'Oldest TLS version accepted; TLSv1.3 accepts only TLS 1.3. Older clients fail with reason protocol_version.' },
  'services.*.tls.ciphers': { default: "Node's default list (tls.DEFAULT_CIPHERS: ECDHE with AES-GCM and ChaCha20 first, no RC4/3DES/export)", text: 'OpenSSL cipher list, for TLS 1.2 suites and TLS 1.3 (TLS_AES_128_GCM_SHA256, ...); one OpenSSL does not know is refused. Check a list with `openssl ciphers -v \'LIST\'`.' },
  'services.*.tls.alpn': { default: `${TLS_DEFAULTS.httpAlpn.join(', ')} (http); none (tcp)`, text: 'ALPN protocols offered, in order. http mode serves HTTP/1.1 only (h2 is refused for now); tcp mode may offer any (the endpoint speaks the protocol chosen). A client whose protocols share none fails with reason no_application_protocol.' },
  'services.*.tls.alpn[]': { text: 'One protocol name, e.g. http/1.1.' },
  'services.*.tls.allow_expired': { default: 'false', text: 'Serve certificates outside their validity period (expired, or not valid yet) instead of refusing the config. By default such a certificate is refused, and so is every config that names it (PUT, SIGHUP, a restart) until it is renewed: a renewal that delivers a wrong file never replaces a good certificate. With true, hitless logs a loud warning at every apply that it serves one; status shows daysLeft < 0.' },
  'services.*.haproxy': { text: 'HAProxy directives passed through into the config hitless renders for the HAProxy data plane (needs dataplane.driver: haproxy; refused with the builtin one). Only allow-listed directives pass (src/config/haproxy-passthrough.ts): what hitless renders itself (listeners, mode, balance, its timeouts, HTTP rules, server lines, checks it configures) cannot be overridden; the whole config is still checked by haproxy -c before it is applied. `hitless import synapse --dataplane haproxy` writes them from a synapse config.' },
  'services.*.haproxy.frontend': { text: 'Lines for the service\'s frontend: backlog, rate-limit sessions, timeout client-fin, option tcpka / clitcpka / splice-* / tcp-smart-accept / http-buffer-request.' },
  'services.*.haproxy.frontend[]': { text: 'One directive (no control characters, no "$" inside double quotes: HAProxy would expand it from the environment).' },
  'services.*.haproxy.backend': { text: "Lines for each of the service's backends, after hitless's own check settings and before the servers: fullconn, timeout queue / server-fin, option tcpka / srvtcpka / splice-* / tcp-smart-connect / abortonclose / allbackups / prefer-last-server / http-buffer-request, the check variants (option tcp-check, mysql-check, pgsql-check, redis-check, smtpchk, ssl-hello-chk, ldap-check, tcp-check ..., http-check expect / send / send-state / disable-on-404; a check option here replaces health.active.type's), http-reuse, max-keep-alive-queue, compression algo / type." },
  'services.*.haproxy.backend[]': { text: 'One directive (same rules as frontend lines).' },
  'services.*.haproxy.server_options': { text: 'Keywords appended to every server line of the service, and to the servers hitless adds at runtime: backup, maxconn, maxqueue, minconn, slowstart, send-proxy, send-proxy-v2, ssl, verify, verifyhost, sni, alpn, ca-file, crt, check-ssl, check-sni, fastinter, downinter, port, addr, on-marked-down, on-marked-up, pool-max-conn, pool-purge-delay, tfo. weight, check, inter, rise, fall, observe, error-limit and on-error are hitless\'s own (endpoint weights, health).' },
  'services.*.discovery': { text: "Where the default cluster's endpoints are discovered (ZooKeeper, etcd, DNS, a file); see the discovery documentation." },
  ...zookeeper('services.*.discovery.zookeeper', 'the endpoints are the children of a znode, watched.'),
  ...etcd('services.*.discovery.etcd', 'the endpoints are the keys under a prefix, listed then watched.'),
  'services.*.discovery.dns': { text: 'DNS: the endpoints are the records of a name, re-resolved when they expire.' },
  'services.*.discovery.dns.name': { text: 'The name to resolve.' },
  'services.*.discovery.dns.type': { default: 'A', text: 'Record type. SRV uses only the lowest priority, with its ports and weights (weight 0 counts as 1; targets resolved by A records), and is re-polled every 30s clamped to min_ttl..max_ttl (no TTL is available).' },
  'services.*.discovery.dns.port': { text: 'Port given to A/AAAA addresses; required for them (SRV records carry their own).' },
  'services.*.discovery.dns.server': { type: '"host:port"', default: "the system's resolver", text: 'Resolver to query.' },
  'services.*.discovery.dns.min_ttl': { type: DURATION, default: ms(dd.minTtl), text: 'Shortest time between queries, whatever the TTL (guards against TTL 0); also the retry interval after a failed query.' },
  'services.*.discovery.dns.max_ttl': { type: DURATION, default: ms(dd.maxTtl), text: 'Longest time between queries, whatever the TTL; at least min_ttl.' },
  'services.*.discovery.file': { text: 'A YAML or JSON file holding a list of endpoints ("host:port" strings or nerve\'s objects), re-read when it changes (replacing it by rename is seen too).' },
  'services.*.discovery.file.path': { type: 'path', text: 'The file; relative paths are resolved against the working directory. Missing or unparsable: the last good set stays.' },
  'services.*.discovery.mode': { default: dd.mode, text: 'replace: the discovered set replaces the static endpoints of the default cluster (which serve until the first good set); add: it is added to them (duplicates dropped).' },
  'services.*.discovery.min_endpoints': { default: `discovery_defaults.min_endpoints (${dd.minEndpoints})`, text: 'A set smaller than this is not applied: the last known good set (or the static endpoints) stays and the source shows degraded. 0 accepts an empty set.' },
  'services.*.discovery.max_drop_percent': {
    default: `discovery_defaults.max_drop_percent (${dd.maxDropPercent})`,
    text:
      'Relative guard: a set that would drop more than this percentage of the reference set is held (the set in effect stays, the source shows degraded, and GET /status shows the held set under `held` with the reason). The reference is the last set the source reported without malformed entries (or any larger set applied since), so entries that turn malformed one at a time cannot shrink the service step by step. A held set with malformed entries stays held until they are fixed; a smaller set reported cleanly is applied once it has stayed the same for drop_hold. 100 turns the guard off; 0 holds every drop. The default, 50, is the share Envoy uses for its panic threshold: losing more than half a service at once is more often a registry or data fault than a plan, and the remaining half could not carry the load anyway.',
  },
  'services.*.discovery.drop_hold': { type: DURATION, default: `discovery_defaults.drop_hold (${ms(dd.dropHold)})`, text: 'How long a drop beyond max_drop_percent, reported without malformed entries, must stay unchanged before it is applied (a real scale-down, instances that are gone). Registrations lost to a brief registry partition come back within it. A report of another set starts the wait again; a set back within the guard ends the hold at once.' },
  discovery_defaults: { text: 'Settings for every service with discovery:.' },
  'discovery_defaults.coalesce': { type: DURATION, default: ms(dd.coalesce), text: 'Discovery changes arriving within this window of the first one are applied together, as one apply.' },
  'discovery_defaults.initial_wait': { type: DURATION, default: ms(dd.initialWait), text: "At startup, how long to wait for every source's first answer before the first apply; sources still silent then start with their static endpoints." },
  'discovery_defaults.min_endpoints': { default: String(dd.minEndpoints), text: 'Default of services.*.discovery.min_endpoints.' },
  'discovery_defaults.max_drop_percent': { default: String(dd.maxDropPercent), text: 'Default of services.*.discovery.max_drop_percent.' },
  'discovery_defaults.drop_hold': { type: DURATION, default: ms(dd.dropHold), text: 'Default of services.*.discovery.drop_hold.' },
  register: { text: "This host's services to announce in ZooKeeper or etcd (nerve's way) while they pass a local health check; withdrawn when it fails or hitless stops." },
  'register[]': { text: 'One registration: exactly one of zookeeper or etcd.' },
  'register[].service': { text: 'Name of the registered service, shown in logs and status (need not be a hitless service).' },
  ...zookeeper('register[].zookeeper', "announced as an ephemeral sequential znode NAME_ + sequence under path; it vanishes if hitless dies."),
  ...etcd('register[].etcd', 'announced as the key prefix + NAME under a kept-alive lease; it vanishes when the lease runs out if hitless dies.'),
  'register[].etcd.ttl': { type: DURATION, default: `${dd.leaseTtl}s`, text: 'Lease TTL, rounded to whole seconds (at least 2s): how long the key outlives hitless.' },
  'register[].host': { text: 'Host or IP to announce; the health check connects to it as well.' },
  'register[].port': { text: 'Port to announce (and to check, unless check.port is set).' },
  'register[].name': { default: 'host:port', text: 'Instance name written into the registry entry; also names the znode/key ("/" becomes "_").' },
  'register[].weight': { default: 'not written (readers use 1)', text: 'Weight written into the registry entry.' },
  'register[].labels': { text: 'Labels written into the registry entry.' },
  'register[].labels.*': { type: 'string, number, true/false or null', text: 'One label value, written as it is (as nerve writes labels).' },
  'register[].check': { text: 'The local health check that decides whether the service is announced; it starts down, so the service is announced only after rise successes.' },
  'register[].check.type': { default: dd.check.type, text: 'A TCP connect, or an HTTP GET expecting 2xx.' },
  'register[].check.port': { default: 'register[].port', text: 'Port to check, when not the announced one (e.g. a separate health port).' },
  'register[].check.path': { default: dd.check.path, text: 'HTTP check path.' },
  'register[].check.interval': { type: DURATION, default: ms(dd.check.interval), text: 'Time between checks.' },
  'register[].check.timeout': { type: DURATION, default: ms(dd.check.timeout), text: 'A check slower than this fails.' },
  'register[].check.rise': { default: String(dd.check.rise), text: 'Consecutive successes that announce the service.' },
  'register[].check.fall': { default: String(dd.check.fall), text: 'Consecutive failures that withdraw it.' },
  dataplane: { text: 'Which data plane runs the services.' },
  'dataplane.driver': { default: DEFAULTS.dataplane.driver, text: 'builtin: hitless proxies the traffic itself; haproxy: hitless renders haproxy.cfg and drives a master-worker HAProxy (endpoint changes through its runtime API, other changes by reload). Changing it needs a restart.' },
  'dataplane.haproxy': { text: 'HAProxy settings; used only with driver: haproxy.' },
  'dataplane.haproxy.binary': { type: 'absolute path', default: hp.binary, text: 'The HAProxy executable. Changing it needs a restart.' },
  'dataplane.haproxy.state_dir': { type: 'absolute path', default: '$TMPDIR/hitless-haproxy-PID', text: 'Directory for the rendered haproxy.cfg, the master and stats sockets and the server-state file; created with mode 0700 (and removed on exit if hitless created it). Changing it needs a restart.' },
  'dataplane.haproxy.threads': { default: String(hp.threads), text: 'HAProxy nbthread.' },
  'dataplane.haproxy.hard_stop_after': { type: DURATION, default: ms(hp.hardStopAfter), text: 'HAProxy hard-stop-after: after a reload, old workers still serving connections are stopped after this long.' },
  'dataplane.haproxy.max_reloads': { default: String(hp.maxReloads), text: 'HAProxy mworker-max-reloads: a worker that has survived this many reloads is terminated.' },
};
