/**
 * The user verbs (net, host, lease) end to end: a real etcd, a real controller process
 * on a unix socket, and the real `vxnet` binary, as a user would run them. Host, lease
 * and endpoint records are seeded into etcd the way agents write them.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { isAlive, keys, spawnDaemon, stopProcess, type EndpointRecord, type HostAlive, type HostRecord, type NetworkSpec, type ProcessRecord, type SubnetLease } from '@vxnet/common';
import { EtcdStore } from '@vxnet/common/etcd';
import { etcdMissing, freePort, startTestEtcd, unixJson, type TestEtcd } from '@vxnet/common/testing';
import { NET_LS_PAGE } from '../src/commands/net-ls.js';

const CLI = fileURLToPath(new URL('../../bin/vxnet.js', import.meta.url));
const CONTROLLER = join(dirname(fileURLToPath(import.meta.resolve('@vxnet/controller'))), '../../bin/vxnet-controller.js');
const HEX64 = /^[0-9a-f]{64}$/;
const ISO_NO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

interface Controller {
  url: string;
  proc: ProcessRecord;
  logFile: string;
}

const missing = etcdMissing();
if (missing) {
  t.plan(0, `skip: ${missing}`);
} else {
  await main();
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'vxnet-cli-test-'));
  const home = join(dir, 'home');
  let etcd: TestEtcd | undefined;
  let store: EtcdStore | undefined;
  const controllers: ProcessRecord[] = [];
  t.teardown(async () => {
    for (const p of controllers) await stopProcess(p);
    await store?.close();
    await etcd?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  etcd = await startTestEtcd('vxnet-cli-test');
  store = new EtcdStore({ endpoints: [etcd.endpoint] });
  const k = keys('/vxnet/');

  async function startController(name: string, extra: string[]): Promise<Controller> {
    const socket = join(dir, `${name}.sock`);
    const logFile = join(dir, `${name}.log`);
    const proc = spawnDaemon({
      command: process.execPath,
      args: [CONTROLLER, '--store', (etcd as TestEtcd).storeUrl, '--socket', socket, '--underlay', '192.0.2.0/24', ...extra],
      logFile,
      env: cleanEnv(),
    });
    controllers.push(proc);
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (!isAlive(proc)) throw new Error(`controller ${name} exited:\n${readFileSync(logFile, 'utf8')}`);
      if ((await health(socket)) === 200) break;
      if (Date.now() > deadline) throw new Error(`controller ${name} not healthy after 15 s:\n${readFileSync(logFile, 'utf8')}`);
      await sleep(100);
    }
    return { url: `unix://${socket}`, proc, logFile };
  }

  /** The CLI as a user runs it; a private VXNET_HOME and no VXNET_* from the caller. */
  function vxnet(args: string[], env: Record<string, string> = {}): Promise<Run> {
    const base = cleanEnv();
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...base, VXNET_HOME: home, ...env }, timeout: 20_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  const ctl = await startController('controller', []);
  const vx = (...args: string[]) => vxnet(['--controller', ctl.url, ...args]);
  const networks = async () => JSON.parse((await vx('net', 'ls', '--json')).stdout) as NetworkSpec[];

  /** A user error: exit 1, exactly one line on stderr saying what and why, no stack. */
  function userError(t: Test, r: Run, re: RegExp, what: string): void {
    t.equal(r.code, 1, `${what}: exit 1`);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
    const lines = r.stderr.trimEnd().split('\n');
    t.equal(lines.length, 1, `${what}: one line on stderr`);
    t.match(lines[0], /^vxnet: /, `${what}: prefixed`);
    t.match(r.stderr, re, `${what}: says what and why`);
    t.notMatch(r.stderr, /\n\s+at |Error:/, `${what}: no stack trace`);
  }

  let net1: NetworkSpec;

  await t.test('net create, ls, inspect', async (t) => {
    const created = await vx('net', 'create', '-d', 'overlay', 'net1');
    t.equal(created.code, 0, created.stderr);
    const id = created.stdout.trim();
    t.match(id, HEX64, 'prints the full id');
    t.equal(created.stdout, `${id}\n`, 'and nothing else');

    // Read-only, so side by side.
    const [lsJson, ls, q, inspect, byPrefix] = await Promise.all([
      vx('net', 'ls', '--json'), vx('net', 'ls'), vx('net', 'ls', '-q'), vx('net', 'inspect', 'net1'), vx('net', 'inspect', '--json', id.slice(0, 12)),
    ]);
    const json = JSON.parse(lsJson.stdout) as NetworkSpec[];
    t.equal(json.length, 1);
    net1 = json[0] as NetworkSpec;
    t.match(net1, { id, name: 'net1', driver: 'overlay', subnet: '10.128.0.0/16', hostSubnetLength: 24, vni: 4096, mtu: null, internal: false });

    t.equal(ls.code, 0);
    const [header, row, ...rest] = ls.stdout.trimEnd().split('\n');
    t.match(header, /^NETWORK ID\s+NAME\s+DRIVER\s+SUBNET\s+VNI\s+MTU\s+HOSTS\s+CREATED$/);
    t.match(row, new RegExp(`^${id.slice(0, 12)}\\s+net1\\s+overlay\\s+10\\.128\\.0\\.0/16\\s+4096\\s+auto\\s+0\\s+(Less than a second|\\d+ seconds?) ago$`));
    t.same(rest, []);

    t.equal(q.stdout, `${id.slice(0, 12)}\n`, '-q prints the short id');

    t.equal(inspect.code, 0);
    for (const line of [`ID:\\s+${id}`, 'Name:\\s+net1', 'Driver:\\s+overlay', 'Subnet:\\s+10\\.128\\.0\\.0/16', 'Host subnets:\\s+/24', 'VNI:\\s+4096', 'MTU:\\s+auto', 'Internal:\\s+no: containers reach beyond the overlay', 'Labels:\\s+-']) {
      t.match(inspect.stdout, new RegExp(`^${line}`, 'm'));
    }
    t.match(inspect.stdout, /^no host holds a subnet of this network yet$/m);
    t.match(inspect.stdout, /^no endpoints$/m);
    t.same(JSON.parse(byPrefix.stdout), { network: net1, hosts: [] }, 'inspect by id prefix, --json is the API object');

    const second = await vx('net', 'create', '--label', 'team=blue', '--label', 'tier=db=1', '-o', 'com.example.x=', '--mtu', '1400', '--internal', '--json', 'net2');
    t.equal(second.code, 0, second.stderr);
    t.match(JSON.parse(second.stdout), { name: 'net2', subnet: '10.129.0.0/16', vni: 4097, mtu: 1400, internal: true, labels: { team: 'blue', tier: 'db=1' }, options: { 'com.example.x': '' } });
    const [inspect2, ls2] = await Promise.all([vx('net', 'inspect', 'net2'), vx('net', 'ls')]);
    t.match(inspect2.stdout, /^Labels:\s+team=blue, tier=db=1$/m);
    t.match(inspect2.stdout, /^Internal:\s+yes: no way out of the overlay \(no egress, no published ports\)$/m);
    t.match(ls2.stdout, /\snet2\s+overlay\s+10\.129\.0\.0\/16\s+4097\s+1400\s/);
  });

  await t.test('bad input: one line saying what and why, nothing changed', async (t) => {
    const before = await networks();
    const cases: Array<[string[], RegExp]> = [
      [['net', 'create', '--subnet', '10.0.0.0/33', 'x'], /could not create network "x": invalid subnet "10\.0\.0\.0\/33": prefix length 33 is out of range/],
      [['net', 'create', '--subnet', '10.0.0.1/16', 'x'], /invalid subnet "10\.0\.0\.1\/16": host bits are set \(did you mean 10\.0\.0\.0\/16\?\)/],
      [['net', 'create', '--subnet', '10.128.16.0/20', 'x'], /could not create network "x": subnet 10\.128\.16\.0\/20 overlaps network "net1" \(10\.128\.0\.0\/16\)/],
      [['net', 'create', '--vni', '4096', 'x'], /could not create network "x": VNI 4096 is in use by network "net1"/],
      [['net', 'create', '--vni', '0', 'x'], /invalid VNI 0: must be 1-16777215/],
      [['net', 'create', '--vni', '16777216', 'x'], /invalid VNI 16777216: must be 1-16777215/],
      [['net', 'create', 'net1'], /could not create network "net1": the name is taken by network [0-9a-f]{12}/],
      [['net', 'create', '--', '-bad!'], /invalid network name "-bad!": use 1-64 characters/],
      [['net', 'create', '-d', 'bridge', 'x'], /unsupported driver "bridge" \(supported drivers: overlay\)/],
      [['net', 'create', '--vni', 'abc', 'x'], /could not create network "x": invalid --vni "abc": expected a whole number/],
      [['net', 'create', '--label', 'novalue', 'x'], /could not create network "x": invalid --label "novalue": expected key=value/],
      [['net', 'create', '-o', '=v', 'x'], /invalid --opt "=v": the key is empty/],
      [['net', 'inspect', 'nope'], /network "nope" not found/],
      [['net', 'rm', 'nope'], /network "nope" not found/],
      [['lease', 'inspect', 'net1', '10.128.3.1/24'], /invalid subnet "10\.128\.3\.1\/24": host bits are set/],
      [['lease', 'inspect', 'net1', '10.128.9.0/24'], /no lease on subnet 10\.128\.9\.0\/24 of network "net1"/],
    ];
    // Independent, and none may change anything: run them side by side.
    const runs = await Promise.all(cases.map(([args]) => vx(...args)));
    cases.forEach(([args, re], i) => userError(t, runs[i] as Run, re, args.join(' ')));
    t.same(await networks(), before, 'net ls --json unchanged');
  });

  await t.test('choosing the controller', async (t) => {
    userError(t, await vxnet(['--controller', 'unix:///nonexistent.sock', 'net', 'ls']), /could not reach the controller at unix:\/\/\/nonexistent\.sock: connect ENOENT/, 'missing socket');
    userError(t, await vxnet(['--controller', 'ftp://x', 'net', 'ls']), /invalid controller URL "ftp:\/\/x"/, 'bad URL');
    userError(t, await vxnet(['net', 'ls']), /no controller to talk to: pass --controller URL, set VXNET_CONTROLLER/, 'none given, no lab');
    const viaEnv = await vxnet(['net', 'ls', '-q'], { VXNET_CONTROLLER: ctl.url });
    t.equal(viaEnv.stdout.trim().split('\n').length, 2, 'VXNET_CONTROLLER is used');
    const flagWins = await vxnet(['--controller', ctl.url, 'net', 'ls', '-q'], { VXNET_CONTROLLER: 'unix:///nonexistent.sock' });
    t.equal(flagWins.code, 0, '--controller wins over VXNET_CONTROLLER');
  });

  await t.test('hosts, leases and endpoints as agents write them', async (t) => {
    const s = store as EtcdStore;
    const now = Date.now();
    const iso = (ms: number) => new Date(ms).toISOString();
    const h1: HostRecord = { name: 'h1', underlayIp: '192.0.2.11', underlayInterface: 'eth0', agentVersion: '0.1.0', networks: [net1.id], routes: [], registeredAt: iso(now - 3600_000), lastSeen: iso(now - 5000) };
    const h2: HostRecord = { name: 'h2', underlayIp: '192.0.2.12', underlayInterface: 'eth0', agentVersion: '0.1.0', networks: [], routes: [], registeredAt: iso(now - 7200_000), lastSeen: iso(now - 180_000) };
    const liveness = await s.grantLease(60);
    const subnetLease = await s.grantLease(86_400);
    const lease: SubnetLease = { networkId: net1.id, subnet: '10.128.3.0/24', host: 'h1', underlayIp: '192.0.2.11', vtepMac: '0a:58:0a:80:03:00', acquiredAt: iso(now - 600_000), renewedAt: iso(now), expiresAt: iso(now + 86_400_000) };
    const ep: EndpointRecord = { id: 'ep1', networkId: net1.id, name: 'web', aliases: [], ip: '10.128.3.2', mac: '02:42:0a:80:03:02', host: 'h1', container: 'c0ffee', createdAt: iso(now) };
    await s.put(k.host('h1'), JSON.stringify(h1));
    await s.put(k.host('h2'), JSON.stringify(h2));
    await s.put(k.hostAlive('h1'), JSON.stringify({ name: 'h1', underlayIp: '192.0.2.11', since: h1.registeredAt } satisfies HostAlive), { lease: liveness.id });
    await s.put(k.lease(net1.id, lease.subnet), JSON.stringify(lease), { lease: subnetLease.id });
    await s.put(k.endpoint(net1.id, ep.id), JSON.stringify(ep), { lease: liveness.id });

    const [hosts, hostsJson, leases, filtered, ofH2, leaseJsonRun, inspect, netLs, ...leaseInspects] = await Promise.all([
      vx('host', 'ls'), vx('host', 'ls', '--json'), vx('lease', 'ls'), vx('lease', 'ls', '--net', 'net1', '--host', 'h1'), vx('lease', 'ls', '--host', 'h2'),
      vx('lease', 'ls', '--json', '--net', net1.id), vx('net', 'inspect', 'net1'), vx('net', 'ls'),
      vx('lease', 'inspect', 'net1', '10.128.3.0/24'), vx('lease', 'inspect', 'net1', '10.128.3.0_24'), vx('lease', 'inspect', '--json', 'net1', '10.128.3.0/24'),
    ]);
    t.equal(hosts.code, 0, hosts.stderr);
    const hostLines = hosts.stdout.trimEnd().split('\n');
    t.match(hostLines[0], /^NAME\s+UNDERLAY IP\s+STATE\s+AGENT\s+NETWORKS\s+LAST SEEN$/);
    t.match(hostLines[1], /^h1\s+192\.0\.2\.11\s+alive\s+0\.1\.0\s+net1\s+\d+ seconds ago$/);
    t.match(hostLines[2], /^h2\s+192\.0\.2\.12\s+dead\s+0\.1\.0\s+-\s+3 minutes ago$/);
    t.match(JSON.parse(hostsJson.stdout), [{ name: 'h1', state: 'alive', networks: ['net1'] }, { name: 'h2', state: 'dead' }]);

    t.equal(leases.code, 0, leases.stderr);
    const [lh, l1, ...lrest] = leases.stdout.trimEnd().split('\n');
    t.match(lh, /^NETWORK\s+SUBNET\s+HOST\s+UNDERLAY IP\s+VTEP MAC\s+EXPIRES\s+REMAINING\s+RENEWED$/);
    const cells = (l1 ?? '').split(/\s{3,}/);
    t.same(cells.slice(0, 5), ['net1', '10.128.3.0/24', 'h1', '192.0.2.11', '0a:58:0a:80:03:00']);
    t.match(cells[5], ISO_NO_MS);
    t.equal(cells[5], lease.expiresAt.replace(/\.\d{3}Z$/, 'Z'), 'absolute UTC expiry without ms');
    t.equal(cells[6], '23h59m', 'remaining');
    t.match(cells[7], /^(Less than a second|\d+ seconds?) ago$/, 'renewed');
    t.same(lrest, []);
    const withoutRenewed = (out: string) => out.split('\n').map((line) => line.split(/\s{3,}/).slice(0, 7).join(' '));
    t.same(withoutRenewed(filtered.stdout), withoutRenewed(leases.stdout), 'filters that match everything');
    t.equal(ofH2.stdout.trimEnd().split('\n').length, 1, 'h2 holds nothing: header only');
    const leaseJson = JSON.parse(leaseJsonRun.stdout);
    t.match(leaseJson, [{ network: 'net1', networkId: net1.id, subnet: '10.128.3.0/24', host: 'h1', hostAlive: true }]);
    t.ok(leaseJson[0].remainingSeconds > 86_300 && leaseJson[0].remainingSeconds <= 86_400);

    for (const one of leaseInspects.slice(0, 2)) {
      t.equal(one.code, 0, one.stderr);
      t.match(one.stdout, /^Network:\s+net1$/m);
      t.match(one.stdout, new RegExp(`^Network ID:\\s+${net1.id}$`, 'm'));
      t.match(one.stdout, /^Host:\s+h1 \(alive\)$/m);
      t.match(one.stdout, /^Expires:\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 23h59m\)$/m);
      t.match(one.stdout, new RegExp(`^Store key:\\s+/vxnet/leases/${net1.id}/10\\.128\\.3\\.0_24$`, 'm'));
      t.match(one.stdout, new RegExp(`^Store lease id:\\s+${subnetLease.id}$`, 'm'));
      t.match(one.stdout, /^Mod revision:\s+\d+$/m);
    }
    t.match(JSON.parse((leaseInspects[2] as Run).stdout), { key: k.lease(net1.id, '10.128.3.0/24'), storeLeaseId: subnetLease.id });

    t.match(inspect.stdout, /^HOST\s+SUBNET\s+GATEWAY\s+UNDERLAY IP\s+VTEP MAC\s+STATE\s+EXPIRES IN$/m);
    t.match(inspect.stdout, /^h1\s+10\.128\.3\.0\/24\s+10\.128\.3\.1\s+192\.0\.2\.11\s+0a:58:0a:80:03:00\s+alive\s+23h59m$/m);
    t.match(inspect.stdout, /^NAME\s+IP\s+MAC\s+HOST$/m);
    t.match(inspect.stdout, /^web\s+10\.128\.3\.2\s+02:42:0a:80:03:02\s+h1$/m);
    t.notMatch(inspect.stdout, /no endpoints/);
    t.match(netLs.stdout, /\snet1\s+overlay\s+10\.128\.0\.0\/16\s+4096\s+auto\s+1\s/, 'net ls counts the host holding a lease');

    const refused = await vx('net', 'rm', 'net1');
    userError(t, refused, /could not remove network "net1": it has 1 endpoint\(s\): web \(10\.128\.3\.2 on h1\) \(use -f to remove it anyway\)/, 'rm with an endpoint');
    t.ok((await networks()).some((n) => n.name === 'net1'), 'net1 is still there');

    const partial = await vx('net', 'rm', 'nope', 'net2', 'nope2');
    t.equal(partial.code, 1, 'some failed: exit 1');
    t.equal(partial.stdout, 'net2\n', 'the one that could be removed was');
    t.same(partial.stderr.trimEnd().split('\n'), ['vxnet: network "nope" not found', 'vxnet: network "nope2" not found'], 'one line per failure');

    const forced = await vx('net', 'rm', '-f', 'net1');
    t.equal(forced.code, 0, forced.stderr);
    t.equal(forced.stdout, 'net1\n', 'prints the removed name');
    t.same(await networks(), []);
    t.same((await s.list(k.leases)).items, [], 'its lease is gone');
    t.same((await s.list(k.endpoints)).items, [], 'its endpoint is gone');
    const [leasesAfter, hostsAfter] = await Promise.all([vx('lease', 'ls'), vx('host', 'ls', '--json')]);
    t.equal(leasesAfter.stdout.trimEnd().split('\n').length, 1, 'lease ls: header only');
    t.match(JSON.parse(hostsAfter.stdout), [{ name: 'h1', networks: [] }, { name: 'h2' }], 'hosts stay');
    await subnetLease.revoke();
    await liveness.revoke();
  });

  await t.test('a TCP controller wants its token; the CLI sends it from --token-file, VXNET_TOKEN_FILE or the lab', async (t) => {
    const tokenFile = join(dir, 'ctl-state/token'); // the controller generates it
    const wrongFile = join(dir, 'wrong-token');
    writeFileSync(wrongFile, 'not-it\n', { mode: 0o600 });
    const port = await freePort();
    const secured = await startController('secured', ['--listen', `127.0.0.1:${port}`, '--plaintext', '--token-file', tokenFile, '--store-prefix', '/vxnet-auth/']);
    const url = `http://127.0.0.1:${port}`;
    userError(t, await vxnet(['--controller', url, 'net', 'ls']), /authentication required by the controller at http:\/\/127\.0\.0\.1:\d+: pass --token-file FILE or set VXNET_TOKEN_FILE/, 'no token');
    userError(t, await vxnet(['--controller', url, 'net', 'ls'], { VXNET_TOKEN_FILE: wrongFile }), /authentication required: the controller at http:.* refused the token in .*wrong-token \(\$VXNET_TOKEN_FILE\)/, 'wrong token');
    userError(t, await vxnet(['--controller', url, '--token-file', join(dir, 'nope'), 'net', 'ls']), /could not read the token for the controller at http:.* from .*nope \(named by --token-file\): ENOENT/, 'missing token file');
    const ok = await vxnet(['--controller', url, '--token-file', tokenFile, 'net', 'create', 'secure1']);
    t.equal(ok.code, 0, ok.stderr);
    t.match(ok.stdout.trim(), HEX64);
    const ls = await vxnet(['--controller', url, 'net', 'ls', '-q'], { VXNET_TOKEN_FILE: tokenFile });
    t.equal(ls.stdout, `${ok.stdout.trim().slice(0, 12)}\n`, 'VXNET_TOKEN_FILE');
    const flagWins = await vxnet(['--controller', url, '--token-file', tokenFile, 'net', 'ls', '-q'], { VXNET_TOKEN_FILE: wrongFile });
    t.equal(flagWins.code, 0, '--token-file before VXNET_TOKEN_FILE');

    // a lab whose state names the controller's token file (the lab writes it; here by hand)
    mkdirSync(join(home, 'labs/tok'), { recursive: true });
    writeFileSync(join(home, 'labs/tok/lab.json'), JSON.stringify({ name: 'tok', controller: { url: secured.url, tcpUrl: url, tokenFile } }));
    const viaLab = await vxnet(['--lab', 'tok', '--controller', url, 'net', 'ls', '-q']);
    t.equal(viaLab.stdout, ls.stdout, viaLab.stderr);
    const viaSocket = await vxnet(['--lab', 'tok', 'net', 'ls', '-q'], { VXNET_TOKEN_FILE: join(dir, 'nope') });
    t.equal(viaSocket.stdout, ls.stdout, 'the unix socket needs no token, and none is read');
  });

  await t.test('net ls pages: more networks than a page, the table streamed, --json one array', async (t) => {
    // a controller of its own (another store prefix), with /24 blocks: room for the networks
    const paged = await startController('paged', ['--store-prefix', '/vxnet-pages/', '--default-block-length', '24']);
    const socket = paged.url.slice('unix://'.length);
    const count = NET_LS_PAGE + 50;
    for (let i = 0; i < count; i += 25) {
      const made = await Promise.all(Array.from({ length: Math.min(25, count - i) }, (_, j) => unixJson(socket, 'POST', '/v1/networks', { name: `p${String(i + j).padStart(4, '0')}`, hostSubnetLength: 28 })));
      t.ok(made.every((r) => r.status === 201), `networks ${i}-${i + made.length - 1} created`);
    }
    const names = Array.from({ length: count }, (_, i) => `p${String(i).padStart(4, '0')}`);
    const json = await vxnet(['--controller', paged.url, 'net', 'ls', '--json']);
    t.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as NetworkSpec[];
    t.same(listed.map((n) => n.name), names, 'one valid JSON array: every network once, by name');
    const whole = await unixJson<{ networks: NetworkSpec[] }>(socket, 'GET', '/v1/networks');
    t.equal(json.stdout, `${JSON.stringify(whole.body.networks, null, 2)}\n`, 'byte for byte the array of the whole list');
    const table = await vxnet(['--controller', paged.url, 'net', 'ls']);
    const lines = table.stdout.trimEnd().split('\n');
    t.match(lines[0], /^NETWORK ID\s+NAME\s+DRIVER\s+SUBNET\s+VNI\s+MTU\s+HOSTS\s+CREATED$/, 'one header');
    t.same(lines.slice(1).map((l) => l.split(/\s+/)[1]), names, 'a row per network, by name, across pages');
    const quiet = await vxnet(['--controller', paged.url, 'net', 'ls', '-q']);
    t.same(quiet.stdout.trimEnd().split('\n'), listed.map((n) => n.id.slice(0, 12)), '-q: every id');
    const empty = await startController('empty', ['--store-prefix', '/vxnet-empty/']);
    const none = await vxnet(['--controller', empty.url, 'net', 'ls', '--json']);
    t.equal(none.stdout, '[]\n', 'no networks: an empty array');
  });
}

/**
 * The environment without VXNET_* (the test chooses those) and without NODE_OPTIONS:
 * tap puts its loaders there, and they would slow every child process down.
 */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('VXNET_') && e[0] !== 'NODE_OPTIONS'));
}

/** Status of GET /v1/health on a unix socket, 0 when it does not answer. */
function health(socketPath: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ socketPath, path: '/v1/health', timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}
