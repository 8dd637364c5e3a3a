// @ts-check
/**
 * The topology page: one event stream (GET /api/topology/events), one topology kept
 * with the controller's own reducer (/ui/lib/topology.js = common/api/topology.ts),
 * one cytoscape graph updated in place.
 *
 * Layout is computed here, not by a force layout: hosts in a row with their containers
 * in a grid inside, networks in a row below. It costs O(n) per update and nothing moves
 * but what changed, so a page with hundreds of containers updates in milliseconds and
 * stays readable while it changes.
 *
 * Read-only: nothing here writes. Everything shown from the store goes through
 * textContent or cytoscape labels, never innerHTML.
 *
 * window.vxnetGraph is a read-only view for tests and benchmarks (revision, counts,
 * nodes with their parents, render timings).
 */
import cytoscape from '/ui/vendor/cytoscape.esm.min.mjs';
import { applyChanges, peerings } from '/ui/lib/topology.js';

/** @typedef {import('../../common/src/api/topology.js').Topology} Topology */
/** @typedef {import('../../common/src/api/topology.js').TopoDelta} TopoDelta */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));

/** @type {Topology | undefined} */
let topology;
/** @type {Set<string>} */
let pendingAlive = new Set();
let filter = '';
/** @type {cytoscape.Core | undefined} */
let cy;
/** @type {EventSource | undefined} */
let source;
/** @type {{ kind: string, id: string } | undefined} */
let selected;
/** What each drawn element was made from (JSON), so an update touches only what changed. */
const drawn = new Map();
const timings = { firstRenderMs: /** @type {number | null} */ (null), lastRenderMs: /** @type {number | null} */ (null), renders: 0, snapshots: 0, changes: 0 };

const STYLE = /** @type {any} */ ([
  { selector: 'node', style: { label: 'data(label)', 'font-size': 11, 'text-wrap': 'wrap', 'text-valign': 'bottom', 'text-margin-y': 4 } },
  { selector: 'node.host', style: { shape: 'round-rectangle', 'background-color': '#e8f1fb', 'border-color': '#0969da', 'border-width': 2, 'text-valign': 'top', 'text-margin-y': -4, 'font-weight': 'bold', padding: 18 } },
  { selector: 'node.host.dead', style: { 'background-color': '#eeeeee', 'border-color': '#999999', color: '#888888', 'border-style': 'dashed', opacity: 0.6 } },
  { selector: 'node.container', style: { shape: 'ellipse', width: 22, height: 22, 'background-color': '#2da44e' } },
  { selector: 'node.network', style: { shape: 'diamond', width: 34, height: 34, 'background-color': '#8250df' } },
  { selector: 'edge', style: { width: 1, 'curve-style': 'bezier', 'line-color': '#a0a8b0' } },
  { selector: 'edge.endpoint', style: { 'line-color': '#8ec5a0' } },
  { selector: 'edge.lease', style: { width: 2, 'line-color': '#c9a2ff', label: 'data(label)', 'font-size': 9, 'text-rotation': 'autorotate' } },
  { selector: 'edge.peering', style: { width: 2, 'line-style': 'dashed', 'line-color': '#0969da', label: 'data(label)', 'font-size': 9, 'curve-style': 'unbundled-bezier' } },
  { selector: ':selected', style: { 'border-color': '#cf222e', 'border-width': 3, 'line-color': '#cf222e' } },
]);

// --- sign-in ---------------------------------------------------------------

async function start() {
  $('login').addEventListener('submit', signIn);
  $('logout').addEventListener('click', signOut);
  $('filter').addEventListener('change', (e) => {
    filter = /** @type {HTMLSelectElement} */ (e.target).value;
    render(true);
  });
  const r = await fetch('/api/topology', { credentials: 'same-origin' });
  if (r.status === 401) return showLogin();
  if (!r.ok) return status(`could not read the topology: HTTP ${r.status}`);
  connect();
}

function showLogin() {
  $('login').hidden = false;
  $('logout').hidden = true;
  status('signed out');
  /** @type {HTMLInputElement} */ ($('token')).focus();
}

/** @param {SubmitEvent} e */
async function signIn(e) {
  e.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('token'));
  const r = await fetch('/api/login', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: input.value }) });
  input.value = '';
  if (!r.ok) {
    $('login-error').textContent = r.status === 401 ? 'That is not the controller\'s token.' : `Sign-in failed: HTTP ${r.status}`;
    return;
  }
  $('login').hidden = true;
  $('login-error').textContent = '';
  connect();
}

async function signOut() {
  source?.close();
  await fetch('/api/logout', { method: 'POST', credentials: 'same-origin' });
  showLogin();
}

// --- the event stream ------------------------------------------------------

function connect() {
  $('logout').hidden = false;
  // EventSource resumes by itself with Last-Event-ID after a network error; when it
  // gives up (the server answered an error, e.g. while a controller starts), a new one
  // resumes from the revision we have through ?since=
  const url = topology ? `/api/topology/events?since=${topology.revision}` : '/api/topology/events';
  const es = new EventSource(url, { withCredentials: true });
  source = es;
  es.addEventListener('open', () => status('live'));
  es.addEventListener('snapshot', (ev) => {
    topology = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    pendingAlive = new Set();
    timings.snapshots++;
    render(true);
  });
  es.addEventListener('change', (ev) => {
    if (!topology) return;
    /** @type {TopoDelta} */
    const d = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    applyChanges(topology, d.changes, d.revision, pendingAlive);
    timings.changes++;
    render(false);
  });
  es.addEventListener('error', async () => {
    if (es.readyState === EventSource.CONNECTING) return status('reconnecting…');
    if (source !== es) return;
    status('disconnected; retrying');
    const r = await fetch('/api/topology', { credentials: 'same-origin' }).catch(() => undefined);
    if (r?.status === 401) return showLogin();
    setTimeout(() => source === es && connect(), 1000);
  });
}

/** @param {string} text */
function status(text) {
  $('status').textContent = topology ? `${text} · revision ${topology.revision}` : text;
}

// --- the graph -------------------------------------------------------------

/** The elements the topology should show, with positions, under the current filter. */
function elements() {
  const t = /** @type {Topology} */ (topology);
  /** @type {any[]} */
  const nodes = [];
  /** @type {any[]} */
  const edges = [];
  const netName = new Map(t.networks.map((n) => [n.id, n.name]));
  const shown = (/** @type {string} */ netId) => filter === '' || filter === netId;
  const hosts = [...t.hosts].sort((a, b) => a.name.localeCompare(b.name));
  const hostNames = new Set(hosts.map((h) => h.name));
  /** @type {Map<string, Map<string, { name: string, host: string, container: string, nets: string[] }>>} */
  const byHost = new Map();
  for (const e of t.endpoints) {
    if (!shown(e.networkId)) continue;
    if (!hostNames.has(e.host)) continue;
    let m = byHost.get(e.host);
    if (!m) byHost.set(e.host, (m = new Map()));
    const c = m.get(e.container) ?? { name: e.name, host: e.host, container: e.container, nets: [] };
    c.nets.push(e.networkId);
    m.set(e.container, c);
  }
  let x = 0;
  const gap = 60;
  for (const h of hosts) {
    const containers = [...(byHost.get(h.name)?.values() ?? [])].sort((a, b) => a.name.localeCompare(b.name) || a.container.localeCompare(b.container));
    const cols = Math.max(1, Math.ceil(Math.sqrt(containers.length)));
    nodes.push({ group: 'nodes', data: { id: `host:${h.name}`, kind: 'host', key: h.name, label: `${h.name}\n${h.underlayIp}` }, classes: h.alive ? 'host' : 'host dead' });
    containers.forEach((c, i) => {
      nodes.push({
        group: 'nodes',
        data: { id: `ctr:${c.host}:${c.container}`, kind: 'container', key: c.container, parent: `host:${h.name}`, label: c.name },
        classes: 'container',
        position: { x: x + (i % cols) * gap, y: Math.floor(i / cols) * gap },
      });
    });
    if (containers.length === 0) nodes.push({ group: 'nodes', data: { id: `empty:${h.name}`, parent: `host:${h.name}`, kind: 'none', label: '' }, position: { x, y: 0 }, style: { width: 1, height: 1, opacity: 0 } });
    x += cols * gap + 140;
  }
  const nets = [...t.networks].filter((n) => shown(n.id)).sort((a, b) => a.name.localeCompare(b.name));
  const rows = Math.max(1, ...hosts.map((h) => Math.ceil(Math.sqrt(byHost.get(h.name)?.size ?? 0))));
  const netY = rows * gap + 160;
  const netGap = nets.length > 1 ? Math.max(160, (x - 140) / (nets.length - 1)) : 0;
  nets.forEach((n, i) => {
    nodes.push({ group: 'nodes', data: { id: `net:${n.id}`, kind: 'network', key: n.id, label: `${n.name}\nVNI ${n.vni} · ${n.subnet}` }, classes: 'network', position: { x: i * netGap, y: netY } });
  });
  for (const e of t.endpoints) {
    if (!shown(e.networkId) || !hostNames.has(e.host) || !netName.has(e.networkId)) continue;
    edges.push({ group: 'edges', data: { id: `ep:${e.networkId}/${e.id}`, kind: 'endpoint', key: `${e.networkId}/${e.id}`, source: `ctr:${e.host}:${e.container}`, target: `net:${e.networkId}` }, classes: 'endpoint' });
  }
  for (const l of t.leases) {
    if (!shown(l.networkId) || !hostNames.has(l.host) || !netName.has(l.networkId)) continue;
    edges.push({ group: 'edges', data: { id: `lease:${l.networkId}/${l.subnet}`, kind: 'lease', key: `${l.networkId}/${l.subnet}`, source: `host:${l.host}`, target: `net:${l.networkId}`, label: l.subnet }, classes: 'lease' });
  }
  for (const p of peerings(t)) {
    if (!shown(p.networkId) || !hostNames.has(p.a) || !hostNames.has(p.b)) continue;
    const vni = t.networks.find((n) => n.id === p.networkId)?.vni ?? '?';
    edges.push({ group: 'edges', data: { id: `peer:${p.networkId}:${p.a}:${p.b}`, kind: 'peering', key: `${p.networkId}:${p.a}:${p.b}`, source: `host:${p.a}`, target: `host:${p.b}`, label: `VNI ${vni}` }, classes: 'peering' });
  }
  return [...nodes, ...edges];
}

/** Brings the graph to the topology: adds, removes and updates only what differs. */
function render(fit) {
  if (!topology) return;
  const t0 = performance.now();
  syncFilterOptions();
  const want = elements();
  if (!cy) {
    for (const e of want) drawn.set(e.data.id, JSON.stringify(e));
    cy = cytoscape({ container: $('graph'), elements: want, style: STYLE, layout: { name: 'preset' }, wheelSensitivity: 0.3, boxSelectionEnabled: false, autoungrabify: true });
    cy.on('tap', 'node, edge', (ev) => {
      const d = ev.target.data();
      selected = { kind: d.kind, id: d.key };
      showDetails();
    });
    cy.fit(undefined, 30);
  } else {
    const c = cy;
    c.batch(() => {
      const ids = new Set(want.map((e) => e.data.id));
      c.elements().filter((el) => !ids.has(el.id())).remove();
      for (const id of drawn.keys()) if (!ids.has(id)) drawn.delete(id);
      // in order: nodes (parents before children), then edges; untouched when unchanged
      for (const e of want) {
        const spec = JSON.stringify(e);
        const el = c.getElementById(e.data.id);
        if (el.empty()) {
          c.add(e);
          drawn.set(e.data.id, spec);
          continue;
        }
        if (drawn.get(e.data.id) === spec) continue;
        drawn.set(e.data.id, spec);
        if (e.group === 'nodes' && (el.data('parent') ?? null) !== (e.data.parent ?? null)) {
          el.move({ parent: e.data.parent ?? null });
        }
        const { id: _id, parent: _parent, source: _source, target: _target, ...data } = e.data;
        el.data(data);
        if (e.classes !== undefined) el.classes(e.classes);
        if (e.position) el.position(e.position);
      }
    });
    if (fit) c.fit(undefined, 30);
  }
  const ms = performance.now() - t0;
  timings.renders++;
  timings.lastRenderMs = ms;
  if (timings.firstRenderMs === null) timings.firstRenderMs = performance.now();
  status('live');
  if (selected) showDetails();
}

function syncFilterOptions() {
  const sel = /** @type {HTMLSelectElement} */ ($('filter'));
  const t = /** @type {Topology} */ (topology);
  const want = [...t.networks].sort((a, b) => a.name.localeCompare(b.name));
  const have = [...sel.options].slice(1).map((o) => `${o.value}=${o.textContent}`).join('|');
  if (have === want.map((n) => `${n.id}=${n.name}`).join('|')) return;
  while (sel.options.length > 1) sel.remove(1);
  for (const n of want) sel.add(new Option(n.name, n.id));
  if (filter !== '' && !want.some((n) => n.id === filter)) filter = '';
  sel.value = filter;
}

// --- the detail pane -------------------------------------------------------

/** @param {string} title @param {Array<[string, string]>} rows */
function table(title, rows) {
  const box = document.createDocumentFragment();
  const h = document.createElement('h2');
  h.textContent = title;
  box.append(h);
  const tbl = document.createElement('table');
  for (const [k, v] of rows) {
    const tr = tbl.insertRow();
    const th = document.createElement('th');
    th.textContent = k;
    tr.append(th);
    tr.insertCell().textContent = v;
  }
  box.append(tbl);
  return box;
}

/** @param {string} iso */
function until(iso) {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return `${iso} (${s >= 0 ? `in ${s} s` : `${-s} s ago`})`;
}

function showDetails() {
  const pane = $('details');
  const t = /** @type {Topology} */ (topology);
  if (!selected || !t) return;
  const netName = (/** @type {string} */ id) => t.networks.find((n) => n.id === id)?.name ?? id.slice(0, 12);
  const parts = [];
  const { kind, id } = selected;
  if (kind === 'host') {
    const h = t.hosts.find((x) => x.name === id);
    if (h) {
      parts.push(table(`host ${h.name}`, [['state', h.alive ? 'alive' : 'dead (liveness lost)'], ['underlay IP', h.underlayIp], ['agent', h.agentVersion], ['last seen', h.lastSeen]]));
      for (const l of t.leases.filter((x) => x.host === h.name)) parts.push(table(`lease on ${netName(l.networkId)}`, [['subnet', l.subnet], ['VTEP MAC', l.vtepMac], ['expires', until(l.expiresAt)]]));
    }
  } else if (kind === 'container') {
    const eps = t.endpoints.filter((e) => e.container === id);
    if (eps[0]) {
      parts.push(table(`container ${eps[0].name}`, [['id', id], ['host', eps[0].host]]));
      for (const e of eps) {
        const lease = t.leases.find((l) => l.networkId === e.networkId && l.host === e.host);
        parts.push(table(`on ${netName(e.networkId)}`, [['IP', e.ip], ['MAC', e.mac], ['aliases', e.aliases.join(', ') || '—'], ['endpoint', e.id], ['lease expires', lease ? until(lease.expiresAt) : '—']]));
      }
    }
  } else if (kind === 'network') {
    const n = t.networks.find((x) => x.id === id);
    if (n) {
      parts.push(table(`network ${n.name}`, [['id', n.id], ['VNI', String(n.vni)], ['subnet', n.subnet], ['internal', String(n.internal)], ['encrypted', String(n.encrypted)],
        ['containers', String(t.endpoints.filter((e) => e.networkId === n.id).length)]]));
      for (const l of t.leases.filter((x) => x.networkId === n.id)) parts.push(table(`lease ${l.subnet}`, [['host', l.host], ['underlay IP', l.underlayIp], ['VTEP MAC', l.vtepMac], ['expires', until(l.expiresAt)]]));
    }
  } else if (kind === 'lease') {
    const l = t.leases.find((x) => `${x.networkId}/${x.subnet}` === id);
    if (l) parts.push(table(`lease ${l.subnet}`, [['network', netName(l.networkId)], ['host', l.host], ['underlay IP', l.underlayIp], ['VTEP MAC', l.vtepMac], ['expires', until(l.expiresAt)]]));
  } else if (kind === 'peering') {
    const [netId = '', a = '', b = ''] = id.split(':');
    const n = t.networks.find((x) => x.id === netId);
    const la = t.leases.find((l) => l.networkId === netId && l.host === a);
    const lb = t.leases.find((l) => l.networkId === netId && l.host === b);
    parts.push(table(`VXLAN peering ${a} ↔ ${b}`, [['network', netName(netId)], ['VNI', String(n?.vni ?? '?')], [`${a}`, `${la?.underlayIp ?? '?'} · ${la?.subnet ?? '?'}`], [`${b}`, `${lb?.underlayIp ?? '?'} · ${lb?.subnet ?? '?'}`]]));
  } else if (kind === 'endpoint') {
    const e = t.endpoints.find((x) => `${x.networkId}/${x.id}` === id);
    if (e) parts.push(table(`endpoint ${e.name} on ${netName(e.networkId)}`, [['IP', e.ip], ['MAC', e.mac], ['aliases', e.aliases.join(', ') || '—'], ['host', e.host]]));
  }
  if (parts.length === 0) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = 'gone';
    parts.push(p);
  }
  pane.replaceChildren(...parts);
}

// --- the read-only view for tests ------------------------------------------

Object.defineProperty(window, 'vxnetGraph', {
  value: Object.freeze({
    get revision() { return topology?.revision ?? null; },
    get timings() { return { ...timings }; },
    /** Every node drawn: id, kind, label, parent (or null), and for hosts whether alive. */
    nodes() {
      return (cy?.nodes().toArray() ?? []).filter((n) => n.data('kind') !== 'none').map((n) => ({
        id: n.id(), kind: n.data('kind'), label: n.data('label'), parent: n.data('parent') ?? null, dead: n.hasClass('dead'),
      }));
    },
    edges() {
      return (cy?.edges().toArray() ?? []).map((e) => ({ id: e.id(), kind: e.data('kind'), source: e.data('source'), target: e.data('target') }));
    },
    /** Selects an element as a click would, for tests without coordinates. */
    select(/** @type {string} */ id) {
      const el = cy?.getElementById(id);
      if (el && !el.empty()) el.emit('tap');
    },
    details() { return $('details').innerText; },
  }),
});

start().catch((err) => status(`error: ${err}`));
