import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveEngine } from '../src/engine-client.js';
import { writeLabState, type LabState } from '../src/lab/lab-state.js';
import { parseEnv, runRequest } from '../src/commands/run.js';
import { commandText, statusText } from '../src/commands/ps.js';

const home = mkdtempSync(join(tmpdir(), 'vxnet-engine-client-'));
process.env.VXNET_HOME = home;
t.teardown(() => rmSync(home, { recursive: true, force: true }));

const daemon = (socket: string) => ({ config: '', command: [], logFile: '', socket, stateDir: '' });
const host = (name: string) => ({
  name, netns: `vx-l.${name}`, underlayIp: '192.0.2.1', dir: `/x/${name}`,
  agent: daemon(`/x/${name}/agent.sock`),
  engine: daemon(`/x/${name}/engine.sock`),
});
const lab = (name: string, hosts: string[]): LabState => ({
  name, phase: 'up', createdAt: '', underlay: '192.0.2.0/24', mtu: 1500, netnsPrefix: `vx-${name}.`, switchNetns: '', namespaces: [],
  hosts: hosts.map(host), store: { kind: 'etcd', netns: '', underlayIp: '', url: '', endpoints: [], dataDir: '', logFile: '' },
  controller: { name: 'ctl', netns: '', underlayIp: '', dir: '', ...daemon(''), url: '', tcpUrl: '', tokenFile: '' },
});
writeLabState(lab('three', ['h1', 'h2', 'h3']));
writeLabState(lab('one', ['h1']));

t.test('-H picks a lab host, a unix socket, or VXNET_HOST', async (t) => {
  t.equal(resolveEngine({ host: 'h2', lab: 'three' }, {}).socketPath, '/x/h2/engine.sock');
  t.equal(resolveEngine({ host: 'unix:///run/e.sock' }, {}).socketPath, '/run/e.sock');
  t.equal(resolveEngine({ lab: 'three' }, { VXNET_HOST: 'h3' }).socketPath, '/x/h3/engine.sock');
  t.equal(resolveEngine({ lab: 'one' }, {}).socketPath, '/x/h1/engine.sock', 'a one-host lab needs no -H');
  t.throws(() => resolveEngine({ lab: 'three' }, {}), /has 3 hosts: choose one with -H \(h1, h2, h3\)/);
  t.throws(() => resolveEngine({ host: 'h9', lab: 'three' }, {}), /has no host "h9"/);
  t.throws(() => resolveEngine({ host: 'tcp://1.2.3.4:2375' }, {}), /not supported/);
  t.throws(() => resolveEngine({ host: 'h1', lab: 'nope' }, {}), /does not exist/);
});

t.test('run arguments become the API request', async (t) => {
  t.same(runRequest('busybox', ['ping', '-c1', 'x'], { detach: true, net: ['a', 'b'], alias: ['w'], name: 'c', ip: '10.0.0.5', hostname: 'hn', env: ['A=1'] }), {
    detach: true, image: 'busybox', cmd: ['ping', '-c1', 'x'], name: 'c', networks: ['a', 'b'], ip: '10.0.0.5', aliases: ['w'], hostname: 'hn', env: ['A=1'],
  });
  t.same(runRequest('sh', ['-c', 'true'], { rootfs: '/srv/root' }), { detach: false, rootfs: '/srv/root', cmd: ['sh', '-c', 'true'] }, 'with --rootfs every positional is the command');
  t.throws(() => runRequest(undefined, [], {}), /needs an image/);
  t.same(runRequest('busybox', ['sh'], { interactive: true, tty: true }), { detach: false, tty: true, image: 'busybox', cmd: ['sh'] }, '-it asks for a terminal');
  t.throws(() => runRequest('busybox', ['sh'], { interactive: true }), /run -i needs -t/);
  t.same(parseEnv(['A=1', 'B', 'C'], { B: 'two' }), ['A=1', 'B=two'], 'KEY alone takes the caller\'s value; unset is dropped');
  t.throws(() => parseEnv(['=x']), /name is empty/);
});

t.test('ps columns read as docker\'s', async (t) => {
  const now = Date.parse('2025-01-01T00:10:00Z');
  t.equal(statusText({ status: 'running', exitCode: null, startedAt: '2025-01-01T00:07:00Z', finishedAt: null }, now), 'Up 3 minutes');
  t.equal(statusText({ status: 'exited', exitCode: 3, startedAt: null, finishedAt: '2025-01-01T00:08:00Z' }, now), 'Exited (3) 2 minutes ago');
  t.equal(commandText(['sh', '-c', 'echo hi']), '"sh -c echo hi"');
  t.equal(commandText(['x'.repeat(30)]), `"${'x'.repeat(21)}…"`);
});
