/**
 * Container names from dockerd, against a fake dockerd on a unix socket (events
 * stream, /containers/json, /containers/ID/json): an agent started before dockerd
 * keeps trying and names what is running once dockerd is up; a connect event names
 * the container's endpoints (name, aliases, id; invalid names dropped); a dockerd
 * restart (stream closed, socket gone for a while) is survived; a container gone
 * before its inspect is nothing.
 */
import t from 'tap';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@vxnet/common';

import { DockerApi, type ContainerInspect } from '../../src/docker/docker-api.js';
import type { ContainerNames } from '../../src/docker/docker-driver.js';
import { DockerNames, containerNames } from '../../src/docker/docker-names.js';

const EP = (c: string) => c.repeat(64);
const CID = (c: string) => `c${c.repeat(63)}`;

/** A fake dockerd: containers by id, events pushed by the test, start/stop like a daemon restart. */
class FakeDockerd {
  readonly containers = new Map<string, ContainerInspect>();
  readonly requests: string[] = [];
  private server: http.Server | undefined;
  private readonly streams = new Set<http.ServerResponse>();

  constructor(readonly socket: string) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://docker');
      this.requests.push(`${req.method} ${url.pathname}`);
      if (url.pathname === '/events') {
        const filters = JSON.parse(url.searchParams.get('filters') ?? '{}') as Record<string, string[]>;
        if (filters.type?.join() !== 'network') throw new Error(`unexpected filters ${JSON.stringify(filters)}`);
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        this.streams.add(res);
        res.on('close', () => this.streams.delete(res));
        return;
      }
      if (url.pathname === '/containers/json') {
        const list = [...this.containers.values()].map((c) => ({ Id: c.Id, NetworkSettings: { Networks: Object.fromEntries(Object.entries(c.NetworkSettings?.Networks ?? {}).map(([k, v]) => [k, { EndpointID: v.EndpointID }])) } }));
        res.end(JSON.stringify(list));
        return;
      }
      const m = /^\/containers\/([^/]+)\/json$/.exec(url.pathname);
      const c = m && this.containers.get(decodeURIComponent(m[1]!));
      if (c) {
        res.end(JSON.stringify(c));
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: `No such container: ${m?.[1] ?? url.pathname}` }));
    });
    await new Promise<void>((resolve) => this.server!.listen(this.socket, resolve));
  }

  /** Push one event to every open stream (as dockerd writes them: one JSON per line). */
  emit(ev: object): void {
    for (const s of this.streams) s.write(`${JSON.stringify(ev)}\n`);
  }

  get following(): number {
    return this.streams.size;
  }

  async stop(): Promise<void> {
    for (const s of this.streams) s.destroy();
    this.streams.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

/** The driver's side, recorded. */
class FakeDriver {
  readonly named: Array<{ endpoint: string; names: ContainerNames }> = [];
  readonly endpoints = new Map<string, { joined: boolean; named: boolean }>();
  knows(id: string) {
    return this.endpoints.has(id);
  }
  unnamed() {
    return [...this.endpoints].filter(([, e]) => e.joined && !e.named).map(([id]) => id);
  }
  async nameEndpoint(endpoint: string, names: ContainerNames) {
    const e = this.endpoints.get(endpoint);
    if (!e) return;
    e.named = true;
    this.named.push({ endpoint, names });
  }
}

const container = (c: string, name: string, nets: Record<string, { ep: string; aliases?: string[] }>): ContainerInspect => ({
  Id: CID(c), Name: `/${name}`,
  NetworkSettings: { Networks: Object.fromEntries(Object.entries(nets).map(([k, v]) => [k, { EndpointID: v.ep, Aliases: v.aliases ?? [CID(c).slice(0, 12)] }])) },
});

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('containerNames: the name without its slash, valid aliases without the name, the id', async (t) => {
  const c = container('1', 'c1', { net1: { ep: EP('1') } });
  t.same(containerNames(c, { Aliases: ['c1', 'web', 'web', 'c1111111111', 'bad name', '-x', 'y'.repeat(65)], DNSNames: ['db'] }), { name: 'c1', aliases: ['web', 'c1111111111', 'db'], container: CID('1') });
  t.same(containerNames({ Id: 'x', Name: `/${'n'.repeat(70)}` }, { Aliases: null }), { name: '', aliases: [], container: 'x' }, 'a name too long for DNS: none');
});

t.test('follows dockerd: started first, dockerd later, events, a dockerd restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-dockerd-'));
  const socket = join(dir, 'docker.sock');
  const dockerd = new FakeDockerd(socket);
  const driver = new FakeDriver();
  const names = new DockerNames({ api: new DockerApi(socket, 2000), driver, log: silentLogger(), minBackoffMs: 20, maxBackoffMs: 100, resyncMs: 100 });
  t.teardown(async () => {
    await names.stop();
    await dockerd.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  // a container already running (an agent restart), joined and unnamed
  driver.endpoints.set(EP('1'), { joined: true, named: false });
  dockerd.containers.set(CID('1'), container('1', 'c1', { net1: { ep: EP('1'), aliases: ['c11111111111', 'web'] } }));
  names.start();
  await new Promise((r) => setTimeout(r, 150));
  t.same(driver.named, [], 'no dockerd yet: nothing, and no crash');

  await dockerd.start();
  await until('the sync names c1', () => driver.named.length === 1);
  t.same(driver.named[0], { endpoint: EP('1'), names: { name: 'c1', aliases: ['c11111111111', 'web'], container: CID('1') } });
  await until('the events stream', () => dockerd.following === 1);

  // a new container: its connect event names it (both its vxnet endpoints; not the bridge one)
  driver.endpoints.set(EP('2'), { joined: true, named: false });
  driver.endpoints.set(EP('3'), { joined: true, named: false });
  dockerd.containers.set(CID('2'), container('2', 'c2', { net1: { ep: EP('2') }, net2: { ep: EP('3'), aliases: ['db'] }, bridge: { ep: EP('9') } }));
  dockerd.emit({ Type: 'network', Action: 'connect', Actor: { ID: 'n'.repeat(64), Attributes: { container: CID('2'), name: 'net1', type: 'vxnet' } } });
  await until('c2 named', () => driver.named.length === 3);
  t.same(driver.named.slice(1).map((n) => [n.endpoint, n.names.name, n.names.aliases]), [[EP('2'), 'c2', [CID('2').slice(0, 12)]], [EP('3'), 'c2', ['db']]]);

  // events of other kinds, and a container gone before its inspect: nothing
  dockerd.emit({ Type: 'network', Action: 'disconnect', Actor: { Attributes: { container: CID('2') } } });
  dockerd.emit({ Type: 'network', Action: 'connect', Actor: { Attributes: { container: CID('7') } } });
  await until('the inspect of the gone container', () => dockerd.requests.includes(`GET /containers/${CID('7')}/json`));
  t.equal(driver.named.length, 3);

  // dockerd restarts: the stream ends, the socket is gone a while; a container started meanwhile is named at reconnection
  await dockerd.stop();
  driver.endpoints.set(EP('4'), { joined: true, named: false });
  dockerd.containers.set(CID('4'), container('4', 'c4', { net1: { ep: EP('4') } }));
  await new Promise((r) => setTimeout(r, 100));
  await dockerd.start();
  await until('c4 named after the restart', () => driver.named.some((n) => n.endpoint === EP('4')));
  await until('following again', () => dockerd.following === 1);
  t.pass('survived the restart');
});
