// The dashboard: polls GET /dashboard/data every second and redraws. Plain DOM, no framework,
// no build step. Text always goes through textContent, never innerHTML.
/* global document, location, sessionStorage, history, Node, fetch, prompt, setTimeout */
'use strict';

const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

// The admin token, when the API has one: from "#token=..." (never sent to the server in the URL),
// kept for the tab's lifetime in sessionStorage.
function token() {
  const m = /token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem('hitless-token', decodeURIComponent(m[1]));
    history.replaceState(null, '', location.pathname);
  }
  return sessionStorage.getItem('hitless-token');
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    if (c instanceof Node) {
      const td = el('td');
      td.appendChild(c);
      tr.appendChild(td);
    } else if (typeof c === 'number' || c === null) tr.appendChild(el('td', fmt(c), 'n'));
    else if (typeof c === 'object' && 'id' in c) tr.appendChild(el('td', c.id, 'n')); // a number that is a name (a pid)
    else tr.appendChild(el('td', c ?? '–'));
  }
  return tr;
}

function fill(id, rows) {
  const body = $(id);
  body.replaceChildren(...rows);
}

function fmt(n) {
  if (n === null || n === undefined) return '–';
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(1) + 'G';
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(1) + 'M';
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1);
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

const pill = (text) => el('span', text, 'pill ' + text);

/** Requests/s per service since the page opened (the server keeps no per-service history). */
const TREND_POINTS = 120;
const trends = new Map();
let trendAt = null;
/** Each process's last CPU reading, for a CPU % between two looks. */
const cpuSeen = new Map();

function filterText() {
  return $('filter').value.trim().toLowerCase();
}

function render(d) {
  const filter = filterText();
  const hit = (text) => filter === '' || String(text).toLowerCase().includes(filter);
  const shown = d.services.filter((s) => hit(s.name) || s.endpoints.some((e) => hit(e.address)));
  $('shown').textContent = filter === '' ? '' : `${shown.length} of ${d.services.length} match "${filter}"`;
  recordTrends(d);
  const inst = d.instance;
  $('instance').textContent =
    `v${inst.version} · pid ${inst.pid}${inst.generation !== null ? ' · generation ' + inst.generation : ''} · up ${duration(inst.uptimeSeconds)} · driver ${inst.driver} · config ${inst.config ? inst.config.hash.slice(0, 12) + ' (' + inst.config.source + ')' : '–'}`;
  const sum = (f) => d.services.reduce((a, s) => a + f(s), 0);
  const eps = d.services.flatMap((s) => s.endpoints);
  $('k-rps').textContent = fmt(sum((s) => s.rate.rps));
  $('k-eps').textContent = fmt(sum((s) => s.rate.eps));
  $('k-active').textContent = fmt(sum((s) => s.active));
  $('k-bps').textContent = bytes(sum((s) => s.rate.bps)) + '/s';
  $('k-total').textContent = fmt(sum((s) => s.total));
  $('k-up').textContent = `${eps.filter((e) => e.healthy).length} / ${eps.length}`;

  fill('services', shown.map((s) => {
    const tr = row([s.name, s.mode, s.listen.join(', '), s.rate.rps, sparkline(trends.get(s.name) ?? []), s.rate.eps, s.active, s.total,
      s.mode === 'http' ? s.responses['2xx'] : null, s.mode === 'http' ? s.responses['4xx'] : null, s.mode === 'http' ? s.responses['5xx'] : null,
      s.retries, s.p50, s.p99, bytes(s.bytesIn + s.bytesOut)]);
    tr.dataset.service = s.name;
    return tr;
  }));
  fill('errors', errorRows(shown));
  fill('endpoints', shown.flatMap((s) => s.endpoints.filter((e) => hit(s.name) || hit(e.address)).map((e) => {
    const [text, cls] = why(e);
    const reason = el('td', text, 'why' + (cls ? ' ' + cls : ''));
    // An operator's override (hitless endpoint ...) shows in place of the health verdict, as HAProxy shows DRAIN/MAINT.
    const o = e.override;
    const state = o && o.state ? o.state : e.weight === 0 && e.health === 'up' ? 'drained' : e.health;
    const tr = row([s.name, e.cluster, e.address, pill(state), o && o.weight !== null ? `${e.weight} (set)` : e.weight, e.rate.rps, e.active, e.total, e.failures, e.ejections, bytes(e.bytesIn + e.bytesOut)]);
    tr.insertBefore(reason, tr.children[4]);
    tr.dataset.endpoint = `${s.name}/${e.cluster}/${e.address}`;
    return tr;
  })));
  renderProcesses(d);
  renderCertificates(d, hit);
  fill('listeners', d.listeners.map((l) => row([l.address, l.service, pill(l.state), l.socket, l.connections])));
  $('discovery-box').hidden = d.discovery.length === 0;
  fill('discovery', d.discovery.map((x) => row([x.service, x.source, pill(x.state), x.held === null ? x.endpoints : `${x.endpoints} (held: ${x.held})`, x.lastUpdate ? new Date(x.lastUpdate * 1000).toLocaleTimeString() : 'never', x.problem ?? '–'])));
  fill('applies', d.applies.map(applyItem));
  chart(d.series);
}

/** TLS certificates by expiry; the row's class (cert-soon, cert-critical, cert-expired) colours it. */
function renderCertificates(d, hit) {
  const certs = d.certificates.filter((c) => hit(c.service) || c.names.some(hit));
  $('certificates-box').hidden = d.certificates.length === 0;
  const t = d.certificateThresholds;
  $('certificates-note').textContent = `soonest expiry first; amber under ${t.soonDays} days left, red under ${t.criticalDays}`;
  fill('certificates', certs.map((c) => {
    const names = c.names.length > 3 ? `${c.names.slice(0, 3).join(', ')}, +${c.names.length - 3}` : c.names.join(', ') || '–';
    const tr = row([c.service, names, c.subject, c.notAfter, c.daysLeft, pill(c.expiry), c.default ? 'yes' : '', c.keyType]);
    tr.className = 'cert-' + c.expiry;
    tr.dataset.service = c.service;
    tr.dataset.certificate = c.name;
    return tr;
  }));
}

/** Why an endpoint gets no new traffic (or what its checks last said), and how loudly to say it. */
function why(e) {
  // Each worker checks on its own: until all agree, some still send it traffic (healthyIn of them).
  const stillIn = !e.healthy && e.healthyIn > 0 ? `; still in rotation in ${e.healthyIn} worker${e.healthyIn === 1 ? '' : 's'}` : '';
  if (e.health === 'down') return [`active health check failing: ${e.checkError ?? 'no detail'}${stillIn}`, 'bad'];
  if (e.health === 'ejected') return [`ejected by passive health after consecutive failures (${e.ejections} ejection${e.ejections === 1 ? '' : 's'} so far)${stillIn}`, 'warn'];
  if (e.weight === 0) return ['drained: weight 0, no new connections', 'warn'];
  if (e.checkError) return [`in rotation; last check failed: ${e.checkError}`, 'warn'];
  return ['', ''];
}

/** hitless's own answers by status and error code, then what endpoints answered 4xx/5xx, per service. */
function errorRows(services) {
  const rows = [];
  for (const s of services) {
    const add = (from, status, error, n) => {
      const tr = row([s.name, from, status, error, n]);
      tr.dataset.service = s.name;
      tr.dataset.code = String(status);
      rows.push(tr);
    };
    if (s.mode !== 'http') {
      if (s.failed > 0) add('hitless', '–', 'no endpoint could be connected (connection closed)', s.failed);
      if (s.rejected > 0) add('hitless', '–', 'max_connections (connection closed)', s.rejected);
      continue;
    }
    const ownByClass = { '4xx': 0, '5xx': 0 };
    for (const status of Object.keys(s.localResponses).sort()) {
      for (const [error, n] of Object.entries(s.localResponses[status])) {
        add('hitless', Number(status), error, n);
        const cls = status[0] + 'xx';
        if (cls in ownByClass) ownByClass[cls] += n;
      }
    }
    for (const cls of ['4xx', '5xx']) {
      const fromEndpoints = s.responses[cls] - ownByClass[cls];
      if (fromEndpoints > 0) add('endpoints', cls, '', fromEndpoints);
    }
  }
  if (rows.length === 0) rows.push(row(['no errors', '', '', '', '']));
  return rows;
}

function recordTrends(d) {
  if (d.ratesAt === null || d.ratesAt === trendAt) return;
  trendAt = d.ratesAt;
  const names = new Set(d.services.map((s) => s.name));
  for (const name of trends.keys()) if (!names.has(name)) trends.delete(name);
  for (const s of d.services) {
    const points = trends.get(s.name) ?? [];
    points.push(s.rate.rps);
    if (points.length > TREND_POINTS) points.shift();
    trends.set(s.name, points);
  }
}

function sparkline(values) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 90 18');
  svg.setAttribute('preserveAspectRatio', 'none');
  if (values.length > 1) {
    const max = Math.max(1, ...values);
    // The x axis grows with the points kept, from 30 to TREND_POINTS, right-aligned on now.
    const step = 90 / (Math.max(30, values.length) - 1);
    const p = document.createElementNS(SVG, 'polyline');
    p.setAttribute('points', values.map((v, i) => `${(90 - (values.length - 1 - i) * step).toFixed(1)},${(17 - (v / max) * 16).toFixed(1)}`).join(' '));
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', '#58a6ff');
    p.setAttribute('stroke-width', '1.5');
    p.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.appendChild(p);
  }
  return svg;
}

function renderProcesses(d) {
  const lags = d.processes.map((p) => p.eventLoopLagP99Ms).filter((x) => x !== null);
  $('k-lag').textContent = lags.length > 0 ? `${fmt(Math.max(...lags))} ms` : '–';
  const g = d.generations;
  $('generations').textContent = g === null ? '' :
    `generation ${g.serving} serving${g.workersPerGeneration !== null ? ` (${g.workersPerGeneration} workers)` : ''}` +
    (g.draining ? ` · generation ${g.draining.generation} draining since ${new Date(g.draining.since).toLocaleTimeString()}` : '') +
    ` · restarts ${g.restarts}` + (g.upgrades ? ` · upgrades ${g.upgrades.ok} ok, ${g.upgrades.failed} failed` : '');
  const pids = new Set(d.processes.map((p) => p.pid));
  for (const pid of cpuSeen.keys()) if (!pids.has(pid)) cpuSeen.delete(pid);
  fill('processes', d.processes.map((p) => {
    // CPU % between this look and the previous one, timed by when each process read its counters.
    const before = cpuSeen.get(p.pid);
    let cpu = before && p.at === before.at ? before.pct : null;
    if (p.cpuSeconds !== null && (!before || p.at > before.at)) {
      if (before) cpu = Math.round(((p.cpuSeconds - before.cpu) * 1e6) / (p.at - before.at)) / 10;
      cpuSeen.set(p.pid, { at: p.at, cpu: p.cpuSeconds, pct: cpu });
    }
    const lag = el('td', p.eventLoopLagP99Ms === null ? '–' : fmt(p.eventLoopLagP99Ms), 'n lag' + (p.eventLoopLagP99Ms > 100 ? ' lag-high' : p.eventLoopLagP99Ms > 20 ? ' lag-mid' : ''));
    const tr = row([p.role, { id: p.pid }, p.worker ?? '–', p.generation ?? '–', pill(p.state), p.inSync ? 'in sync' : 'differs', p.connections,
      p.eventLoopLagMaxMs, cpu, p.heapUsedBytes === null ? '–' : bytes(p.heapUsedBytes), p.rssBytes === null ? '–' : bytes(p.rssBytes), p.gcSeconds, p.handles]);
    tr.insertBefore(lag, tr.children[7]);
    tr.dataset.pid = String(p.pid);
    tr.dataset.role = p.role;
    return tr;
  }));
}

function applyItem(a) {
  const li = el('li');
  const head = el('div');
  head.append(pill(a.result), el('span', ` ${new Date(a.at).toLocaleTimeString()} · ${a.origin}${a.peer ? ' from ' + a.peer : ''} · ${a.durationMs.toFixed(1)} ms · `, 'meta'), el('span', a.summary));
  li.appendChild(head);
  const diff = el('div', null, 'diff');
  const marks = { added: ['+', 'add'], removed: ['−', 'del'], changed: ['~', 'chg'], reweighted: ['±', 'chg'] };
  for (const [what, kinds] of Object.entries(a.diff)) {
    for (const [kind, names] of Object.entries(kinds)) {
      const [sign, cls] = marks[kind] ?? ['·', ''];
      diff.appendChild(el('div', `${sign} ${what}: ${names.join(', ')}`, cls));
    }
  }
  if (a.error) diff.appendChild(el('div', a.error.message.split('\n')[0], 'err'));
  if (diff.childNodes.length > 0) li.appendChild(diff);
  return li;
}

const SVG = 'http://www.w3.org/2000/svg';

function chart(series) {
  const svg = $('chart');
  const n = series.t.length;
  const max = Math.max(1, ...series.rps, ...series.eps);
  // The x axis grows with the history kept, up to five minutes, so a young instance fills it.
  const W = 1000, H = 160, span = Math.min(300, Math.max(60, n));
  const x = (i) => W - (n - 1 - i) * (W / (span - 1));
  const y = (v) => H - 6 - (v / max) * (H - 16);
  const line = (values, color) => {
    const p = document.createElementNS(SVG, 'polyline');
    p.setAttribute('points', values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' '));
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke', color);
    p.setAttribute('stroke-width', '2');
    p.setAttribute('vector-effect', 'non-scaling-stroke');
    return p;
  };
  const grid = [0.25, 0.5, 0.75].map((f) => {
    const g = document.createElementNS(SVG, 'line');
    g.setAttribute('x1', '0');
    g.setAttribute('x2', String(W));
    g.setAttribute('y1', String(y(max * f)));
    g.setAttribute('y2', String(y(max * f)));
    g.setAttribute('stroke', '#26303b');
    return g;
  });
  svg.replaceChildren(...grid, line(series.rps, '#58a6ff'), line(series.eps, '#f85149'));
  $('chart-from').textContent = n > 0 ? `${Math.min(n, span)} s ago` : '';
  $('chart-max').textContent = `max ${fmt(max)}/s`;
}

function duration(s) {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

async function poll() {
  const conn = $('conn');
  try {
    const t = token();
    const res = await fetch('/dashboard/data', { headers: t ? { authorization: 'Bearer ' + t } : {}, cache: 'no-store' });
    if (res.status === 401) {
      const given = prompt('This admin API needs its token (admin.token):');
      if (given) sessionStorage.setItem('hitless-token', given);
      throw new Error('unauthorised');
    }
    if (!res.ok) throw new Error('HTTP ' + res.status);
    last = await res.json();
    render(last);
    conn.textContent = 'live';
    conn.className = 'pill up';
  } catch (err) {
    conn.textContent = 'offline: ' + err.message;
    conn.className = 'pill offline';
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// A new filter shows at once, from the last data, not at the next poll.
let last = null;
$('filter').addEventListener('input', () => last && render(last));

poll();
