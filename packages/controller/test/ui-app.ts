/**
 * The topology page's listener (src/ui-app.ts) on the in-memory store: static files,
 * sign-in, the topology, and the event stream over a real loopback connection,
 * including resuming after a disconnect and after a "restart" (a new app on the same
 * store, which has no history of its own).
 */
import t, { type Test } from 'tap';
import { request, type IncomingMessage } from 'node:http';
import { MemoryStore, keys, silentLogger, type EndpointRecord, type HostRecord, type Keys, type Store } from '@vxnet/common';
import type { TopoDelta, Topology } from '@vxnet/common/api';
import { buildUi } from '../src/ui-app.js';

const TOKEN = 'test-token-0123456789';

async function setup(t: Test, store: Store = new MemoryStore(), k: Keys = keys('/t/')) {
  const app = await buildUi({ store, keys: k, logger: silentLogger(), token: TOKEN, keepAliveMs: 60_000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const port = (app.server.address() as { port: number }).port;
  return { app, store, k, port };
}

const hostRecord = (name: string): HostRecord => ({
  name, underlayIp: '192.0.2.1', underlayInterface: 'eth0', agentVersion: '0.1.0', networks: [], routes: [], registeredAt: '2026-11-29T00:00:00Z', lastSeen: '2026-11-29T00:00:00Z',
});
const endpoint = (id: string, host: string): EndpointRecord => ({
  id, networkId: 'n1', name: `c-${id}`, aliases: ['web'], ip: '10.0.1.2', mac: '02:42:0a:00:01:02', host, container: `ctr-${id}`, createdAt: '2026-11-29T00:00:00Z',
});

interface SseEvent { id: number; event: string; data: unknown }

/** An event stream over loopback: collects events; next() waits for the next one. */
function stream(port: number, headers: Record<string, string>) {
  const events: SseEvent[] = [];
  let wake: (() => void) | undefined;
  let res: IncomingMessage | undefined;
  const req = request({ host: '127.0.0.1', port, path: '/api/topology/events', headers }, (r) => {
    res = r;
    let buf = '';
    r.setEncoding('utf8');
    r.on('data', (chunk: string) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const f = Object.fromEntries(block.split('\n').filter((l) => !l.startsWith(':') && l.includes(': ')).map((l) => [l.slice(0, l.indexOf(': ')), l.slice(l.indexOf(': ') + 2)]));
        if (f.event) events.push({ id: Number(f.id), event: f.event, data: JSON.parse(f.data ?? 'null') });
        wake?.();
      }
    });
  });
  req.end();
  return {
    events,
    status: () => res?.statusCode,
    async next(n = events.length + 1): Promise<SseEvent> {
      const deadline = Date.now() + 3000;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`no event #${n} within 3 s (got ${events.length})`);
        await new Promise<void>((r) => { wake = r; setTimeout(r, 50); });
      }
      return events[n - 1]!;
    },
    close: () => req.destroy(),
  };
}

t.test('static files: the page, cytoscape and the shared reducer, and nothing else of node_modules', async (t) => {
  const { app } = await setup(t);
  const page = await app.inject({ url: '/ui/' });
  t.equal(page.statusCode, 200);
  t.match(page.headers['content-type'], /text\/html/);
  t.match(page.headers['content-security-policy'], /default-src 'self'/);
  t.equal((await app.inject({ url: '/ui/app.js' })).statusCode, 200);
  const cy = await app.inject({ url: '/ui/vendor/cytoscape.esm.min.mjs' });
  t.equal(cy.statusCode, 200);
  t.match(cy.headers['content-type'], /javascript/);
  t.match((await app.inject({ url: '/ui/lib/topology.js' })).body, /export function applyChanges/);
  t.equal((await app.inject({ url: '/ui/lib/index.js' })).statusCode, 404);
  t.equal((await app.inject({ url: '/ui/vendor/cytoscape.cjs.js' })).statusCode, 404);
});

t.test('sign-in: 401 without a session, wrong token refused, cookie opens the topology', async (t) => {
  const { app, store, k } = await setup(t);
  await store.put(k.host('h1'), JSON.stringify(hostRecord('h1')));
  t.equal((await app.inject({ url: '/api/topology' })).statusCode, 401);
  t.equal((await app.inject({ method: 'POST', url: '/api/login', payload: { token: 'nope' } })).statusCode, 401);
  const ok = await app.inject({ method: 'POST', url: '/api/login', payload: { token: TOKEN } });
  t.equal(ok.statusCode, 204);
  const cookie = String(ok.headers['set-cookie']);
  t.match(cookie, /HttpOnly/);
  t.notMatch(cookie, TOKEN, 'the cookie is not the token');
  const topo = (await app.inject({ url: '/api/topology', headers: { cookie: cookie.split(';')[0]! } })).json() as Topology;
  t.same(topo.hosts.map((h) => [h.name, h.alive]), [['h1', false]]);
  t.equal((await app.inject({ url: '/api/topology', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200, 'scripts may use the bearer token');
  t.equal((await app.inject({ url: '/api/topology', headers: { cookie: 'vxnet_session=v1.99999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } })).statusCode, 401);
  t.equal((await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'x' } })).statusCode, 404, 'no write API on this listener');
});

t.test('event stream: snapshot, live changes, resume after a disconnect and after a restart', async (t) => {
  const store = new MemoryStore();
  const k = keys('/t/');
  const first = await setup(t, store, k);
  const auth = { authorization: `Bearer ${TOKEN}` };
  await store.put(k.host('h1'), JSON.stringify(hostRecord('h1')));

  const s1 = stream(first.port, auth);
  const snap = await s1.next();
  t.equal(snap.event, 'snapshot');
  t.equal(s1.status(), 200);
  const rev = await store.put(k.endpoint('n1', 'e1'), JSON.stringify(endpoint('e1', 'h1')));
  const ch = await s1.next();
  t.equal(ch.event, 'change');
  t.equal(ch.id, rev, 'the event id is the store revision');
  t.same((ch.data as TopoDelta).changes.map((c) => [c.kind, c.key]), [['endpoint', 'n1/e1']]);
  await store.put(k.hostAlive('h1'), JSON.stringify({ name: 'h1', underlayIp: '192.0.2.1', since: 'now' }));
  const alive = await s1.next();
  t.same((alive.data as TopoDelta).changes, [{ kind: 'alive', key: 'h1', value: true }]);
  s1.close();

  // missed while disconnected: an endpoint added, one removed, the host's liveness gone
  await store.put(k.endpoint('n1', 'e2'), JSON.stringify(endpoint('e2', 'h1')));
  await store.delete(k.endpoint('n1', 'e1'));
  await store.delete(k.hostAlive('h1'));
  const last = (await store.list(k.prefix)).revision;
  const s2 = stream(first.port, { ...auth, 'last-event-id': String(alive.id) });
  const resumed = await s2.next();
  t.equal(resumed.event, 'change', 'a resume gets the deltas, not a snapshot');
  t.equal(resumed.id, last);
  t.same((resumed.data as TopoDelta).changes.map((c) => [c.kind, c.key, c.value === null ? null : typeof c.value === 'boolean' ? c.value : 'put']),
    [['endpoint', 'n1/e2', 'put'], ['endpoint', 'n1/e1', null], ['alive', 'h1', false]]);
  s2.close();

  // "restart": a new controller on the same store has no log, so the page gets a snapshot with everything
  await first.app.close();
  const second = await setup(t, store, k);
  await store.put(k.endpoint('n1', 'e3'), JSON.stringify(endpoint('e3', 'h1')));
  const s3 = stream(second.port, { ...auth, 'last-event-id': String(last) });
  const after = await s3.next();
  t.equal(after.event, 'snapshot');
  const topo = after.data as Topology;
  t.same(topo.endpoints.map((e) => e.id).sort(), ['e2', 'e3']);
  t.same(topo.hosts.map((h) => h.alive), [false]);
  t.ok(after.id > last);
  s3.close();
});
