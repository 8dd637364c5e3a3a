/**
 * GET /metrics of the controller through inject(), on the in-memory store: the series
 * computed from the store at scrape time, the request histogram's bounded labels, and
 * the token still required on the door that needs one.
 */
import t, { type Test } from 'tap';
import { MemoryStore, keys, silentLogger } from '@vxnet/common';
import { daemonMetrics } from '@vxnet/common/metrics';
import { build } from '../src/app.js';
import { controllerMetrics } from '../src/metrics/controller-metrics.js';

const pool = { defaultPool: '10.128.0.0/9', defaultBlockLength: 16, excluded: [] };

/** `name{labels} value` lines of an exposition, as a map (comments left out). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function setup(t: Test, token?: string) {
  const store = new MemoryStore();
  const k = keys('/m/');
  const metrics = daemonMetrics('controller', '9.9.9');
  controllerMetrics(metrics, store, k, pool.defaultPool);
  const app = await build({ store, keys: k, pool, logger: silentLogger(), metrics, ...(token ? { token } : {}) });
  t.teardown(async () => {
    await app.close();
    await store.close();
  });
  return { app, store, k };
}

t.test('networks, pool usage, hosts and store up come from the store at scrape time', async (t) => {
  const { app, store, k } = await setup(t);
  let s = samples((await app.inject({ url: '/metrics' })).body);
  t.equal(s.get('vxnet_controller_networks'), 0);
  t.equal(s.get('vxnet_controller_store_up'), 1);
  t.equal(s.get('vxnet_controller_pool_addresses{pool="default",state="free"}'), 2 ** 23);
  t.equal(s.get('vxnet_build_info{version="9.9.9",daemon="controller"}'), 1);

  t.equal((await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'net1' } })).statusCode, 201);
  t.equal((await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'net2', subnet: '172.30.0.0/16' } })).statusCode, 201);
  await store.put(k.hostAlive('h1'), '{}');
  await new Promise((r) => setTimeout(r, 300)); // past the sharing window of one scrape
  const r = await app.inject({ url: '/metrics' });
  t.equal(r.statusCode, 200);
  t.match(r.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  s = samples(r.body);
  t.equal(s.get('vxnet_controller_networks'), 2);
  t.equal(s.get('vxnet_controller_hosts_alive'), 1);
  t.equal(s.get('vxnet_controller_pool_addresses{pool="default",state="allocated"}'), 2 ** 16);
  t.equal(s.get('vxnet_controller_pool_addresses{pool="default",state="free"}'), 2 ** 23 - 2 ** 16);
  t.equal(s.get('vxnet_controller_pool_addresses{pool="other",state="allocated"}'), 2 ** 16);
  // the route template, never the URL that was asked for
  t.ok([...s.keys()].some((key) => key.startsWith('vxnet_controller_http_request_duration_seconds_count{method="POST",route="/v1/networks",status_code="201"}')));
  await app.inject({ url: '/v1/networks/net1' });
  await app.inject({ url: '/nothing/here' });
  const keysNow = [...samples((await app.inject({ url: '/metrics' })).body).keys()].filter((key) => key.startsWith('vxnet_controller_http_request_duration_seconds_count'));
  t.ok(keysNow.some((key) => key.includes('route="/v1/networks/:ref"') || key.includes('route="/v1/networks/:')), 'a parameterised route is labelled by its template');
  t.notOk(keysNow.some((key) => key.includes('net1')), 'no resource name in a label');
  t.ok(keysNow.some((key) => key.includes('route="unmatched"')), 'unknown URLs share one label value');
  t.notOk(keysNow.some((key) => key.includes('route="/metrics"')), 'scrapes are not counted as API traffic');
});

t.test('a store that does not answer: store_up 0, the other gauges keep the last values read (not zero)', async (t) => {
  const { app, store } = await setup(t);
  t.equal((await app.inject({ method: 'POST', url: '/v1/networks', payload: { name: 'net1' } })).statusCode, 201);
  t.equal(samples((await app.inject({ url: '/metrics' })).body).get('vxnet_controller_networks'), 1);
  await store.close(); // every read now fails
  await new Promise((r) => setTimeout(r, 300));
  const s = samples((await app.inject({ url: '/metrics' })).body);
  t.equal(s.get('vxnet_controller_store_up'), 0);
  t.equal(s.get('vxnet_controller_networks'), 1);
  t.equal(s.get('vxnet_controller_pool_addresses{pool="default",state="allocated"}'), 2 ** 16);
});

t.test('the token is required for /metrics like for every route of a door that has one', async (t) => {
  const { app } = await setup(t, 's3cret');
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
  const r = await app.inject({ url: '/metrics', headers: { authorization: 'Bearer s3cret' } });
  t.equal(r.statusCode, 200);
  t.match(r.body, /^vxnet_controller_networks 0$/m);
});
