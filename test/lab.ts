/**
 * The lab, end to end, on the real kernel and a real etcd: the CLI as a user runs it.
 */
import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, type ProcessRecord } from '@vxnet/common';
import { isRoot, netnsWithPrefix, tempHome, uniqueLabName, vxnet, VXNET_BIN } from './helpers/cli.js';

if (!isRoot) {
  t.plan(0, 'skip: lab tests need root (network namespaces)');
} else {
  t.test('lab up, exec across the underlay, etcd from every host, down leaves nothing', async (t) => {
    const { home, cleanup } = tempHome('lab');
    const env = { VXNET_HOME: home };
    const name = uniqueLabName('main');
    const prefix = `vx-${name}.`;
    t.teardown(async () => {
      await vxnet(['lab', 'down', '--name', name], env);
      cleanup();
    });

    const up = await vxnet(['lab', 'up', '--name', name, '--hosts', '3', '--underlay', '198.51.100.0/24'], env);
    t.equal(up.code, 0, `lab up succeeds: ${up.stderr}`);
    t.match(up.stdout, /is up/);

    // the lab is the current context: no --name needed from here on
    const st = await vxnet(['lab', 'status', '--json'], env);
    t.equal(st.code, 0, 'status of a healthy lab exits 0');
    const status = JSON.parse(st.stdout);
    t.equal(status.name, name);
    t.same(status.hosts.map((h: { name: string; netns: string; underlayIp: string }) => [h.name, h.netns, h.underlayIp]), [
      ['h1', `${prefix}h1`, '198.51.100.1'],
      ['h2', `${prefix}h2`, '198.51.100.2'],
      ['h3', `${prefix}h3`, '198.51.100.3'],
    ]);
    t.equal(status.store.kind, 'etcd');
    t.equal(status.store.url, 'etcds://198.51.100.254:2379', 'the store URL the daemons are given: TLS');
    t.same(status.store.endpoints, ['https://198.51.100.254:2379']);
    t.type(status.store.pid, 'number');
    t.equal(status.store.running, true);
    t.equal(status.controller.running, true);
    t.type(status.controller.pid, 'number');
    t.equal(status.controller.tcpUrl, 'https://198.51.100.253:7070');
    t.equal(status.controller.url, `unix://${join(home, 'labs', name, 'ctl', 'run', 'controller.sock')}`, 'the controller machine\'s /run/vxnet, bound into the lab directory');
    for (const h of status.hosts) t.type(h.pids.machine, 'number', `${h.name} is a machine with a keeper`);
    const hn = await vxnet(['lab', 'exec', 'h2', '--', 'hostname'], env);
    t.equal(hn.stdout.trim(), 'h2', 'lab exec runs in the machine: its host name');
    t.same(netnsWithPrefix(prefix).sort(), [`${prefix}ctl`, `${prefix}etcd`, `${prefix}h1`, `${prefix}h2`, `${prefix}h3`, `${prefix}out`, `${prefix}rt`, `${prefix}sw`]);

    const ping = await vxnet(['lab', 'exec', 'h1', '--', 'ping', '-c1', '-W2', '198.51.100.3'], env);
    t.equal(ping.code, 0, 'h1 pings h3 over the underlay');
    t.match(ping.stdout, /1 received/);

    for (const h of ['h1', 'h2', 'h3']) {
      const health = await vxnet(['lab', 'exec', h, '--', 'etcdctl', '--endpoints', 'https://198.51.100.254:2379',
        '--cacert', status.tls.ca, '--cert', status.tls.cert, '--key', status.tls.key, 'endpoint', 'health'], env);
      t.equal(health.code, 0, `etcd is healthy from ${h}`);
      t.match(health.stdout + health.stderr, /is healthy/);
    }

    // exit codes pass through
    const f = await vxnet(['lab', 'exec', 'h2', '--', 'sh', '-c', 'exit 7'], env);
    t.equal(f.code, 7, 'lab exec passes the exit code through');

    // no lab link in the root namespace
    const rootLinks = readFileSync('/proc/net/dev', 'utf8');
    t.notMatch(rootLinks, /p-h1|br0/, 'no lab link appears in the root namespace');

    // up again on the same name: refused, nothing changed
    const again = await vxnet(['lab', 'up', '--name', name, '--hosts', '2'], env);
    t.equal(again.code, 1);
    t.match(again.stderr, /already up/);
    const st2 = JSON.parse((await vxnet(['lab', 'status', '--json'], env)).stdout);
    t.equal(st2.hosts.length, 3, 'the lab still has its 3 hosts');
    t.equal(st2.store.pid, status.store.pid, 'etcd was not restarted');

    // the controller's TCP port: a bearer token or 401, and nothing changes without one
    const tokenFile: string = status.controller.tokenFile;
    t.equal(statSync(tokenFile).mode & 0o777, 0o600, 'the token the controller generated is 0600');
    // over HTTPS with the lab's CA and admin client certificate: only the token varies
    const post = (auth: string) => vxnet(['lab', 'exec', 'h2', '--', process.execPath, '-e', [
      'const fs = require("node:fs"); const [url, auth, ca, cert, key] = process.argv.slice(1);',
      'const req = require("node:https").request(url + "/v1/networks", { method: "POST", ca: fs.readFileSync(ca), cert: fs.readFileSync(cert), key: fs.readFileSync(key),',
      '  headers: { "content-type": "application/json", ...(auth ? { authorization: auth } : {}) } },',
      '  (r) => { console.log(r.statusCode); r.resume(); r.on("end", () => process.exit(0)); });',
      'req.on("error", (e) => { console.error(e.message); process.exit(2); }); req.end(JSON.stringify({ name: "fromh2" }));',
    ].join('\n'), status.controller.tcpUrl, auth, status.tls.ca, status.tls.cert, status.tls.key], env);
    t.equal((await post('')).stdout.trim(), '401', 'no token: 401');
    t.equal((await post('Bearer wrong')).stdout.trim(), '401', 'wrong token: 401');
    t.equal(JSON.parse((await vxnet(['net', 'ls', '--json'], env)).stdout).length, 0, 'no network was created');
    t.equal((await post(`Bearer ${readFileSync(tokenFile, 'utf8').trim()}`)).stdout.trim(), '201', 'the lab\'s token: created');

    for (const [args, re] of [
      [['lab', 'kill', 'h9', 'agent'], /has no host "h9"/],
      [['lab', 'kill', 'h1', 'dns'], /expected `agent` or `engine`, got "dns"/],
      [['lab', 'kill', 'h1', 'agent', '--signal', 'BOGUS'], /unknown signal "BOGUS"/],
      [['lab', 'restart', 'store', 'agent'], /`store` takes no daemon name/],
    ] as Array<[string[], RegExp]>) {
      const r = await vxnet(args, env);
      t.equal(r.code, 1, `${args.join(' ')}: exit 1`);
      t.match(r.stderr, re, r.stderr.trim());
    }

    // a process left running in a host is ended by down
    const sleeper = spawn(process.execPath, [VXNET_BIN, 'lab', 'exec', 'h1', '--', 'sleep', '600'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    await sleep(300);

    const recorded = JSON.parse(readFileSync(join(home, 'labs', name, 'lab.json'), 'utf8'));
    const etcd: ProcessRecord = recorded.store.process;
    const controller: ProcessRecord = recorded.controller.process;
    const down = await vxnet(['lab', 'down'], env);
    t.equal(down.code, 0, `lab down succeeds: ${down.stderr}`);
    t.same(netnsWithPrefix(prefix), [], 'no namespace of the lab is left');
    t.equal(isAlive(etcd), false, 'etcd is stopped');
    t.equal(isAlive(controller), false, 'the controller is stopped');
    await new Promise<void>((resolve) => (sleeper.exitCode !== null ? resolve() : sleeper.on('exit', () => resolve())));
    t.pass('a process left in a lab host ended');
    t.equal(existsSync(join(home, 'labs', name)), false, 'the lab directory is gone');
    t.equal(existsSync(join(home, 'context.json')), false, 'the context no longer names the lab');

    const down2 = await vxnet(['lab', 'down', '--name', name], env);
    t.equal(down2.code, 1, 'down of a lab that is gone fails');
    t.match(down2.stderr, /no lab named/);
  });

  t.test('bad input: one line, non-zero exit, nothing left behind', async (t) => {
    const { home, cleanup } = tempHome('bad');
    const env = { VXNET_HOME: home };
    t.teardown(cleanup);
    const name = uniqueLabName('bad');
    const cases: Array<[string[], RegExp]> = [
      [['lab', 'up', '--name', name, '--hosts', '0'], /--hosts "0": a lab needs at least 1 host/],
      [['lab', 'up', '--name', name, '--hosts', 'x'], /--hosts "x": expected a whole number/],
      [['lab', 'up', '--name', name, '--hosts', '7', '--underlay', '192.0.2.0/29'], /too small for 7 hosts: it has 6 usable addresses/],
      [['lab', 'up', '--name', name, '--underlay', '192.0.2.1/24'], /host bits are set \(did you mean 192\.0\.2\.0\/24\?\)/],
      [['lab', 'up', '--name', name, '--underlay', '10.0.0.0/33'], /prefix length 33 is out of range/],
      [['lab', 'up', '--name', 'Bad.Name'], /invalid lab name "Bad.Name"/],
      [['lab', 'up', '--name', name, '--store', 'mysql'], /invalid --store "mysql": expected etcd or redis/],
      [['lab', 'status', '--name', `${name}-nope`], /no lab named/],
      [['lab', 'down', '--name', `${name}-nope`], /no lab named/],
      [['lab', 'exec', '--name', `${name}-nope`, 'h1', '--', 'true'], /no lab named/],
      [['lab', 'status'], /no lab selected/],
      [['lab', 'up', '--name', name, '--bogus'], /unknown option '--bogus'/],
    ];
    for (const [args, re] of cases) {
      const r = await vxnet(args, env);
      t.not(r.code, 0, `${args.join(' ')} exits non-zero`);
      t.match(r.stderr, re, `${args.join(' ')} says why`);
      t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
      t.equal(r.stderr.trimEnd().split('\n').length, 1, `${args.join(' ')}: one line`);
      t.same(netnsWithPrefix(`vx-${name}`), [], 'no namespace left behind');
      t.equal(existsSync(join(home, 'labs', name)), false, 'no lab directory left behind');
    }
  });

  t.test('lab down cleans up after a lab up that was killed halfway', async (t) => {
    const { home, cleanup } = tempHome('crash');
    const env = { VXNET_HOME: home };
    const name = uniqueLabName('crash');
    t.teardown(async () => {
      await vxnet(['lab', 'down', '--name', name], env);
      cleanup();
    });
    const child = spawn(process.execPath, [VXNET_BIN, 'lab', 'up', '--name', name, '--hosts', '4'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    const stateFile = join(home, 'labs', name, 'lab.json');
    // kill it as soon as etcd is recorded: namespaces, links and a process exist, health not yet checked
    const deadline = Date.now() + 20_000;
    let etcd: ProcessRecord | undefined;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        etcd = JSON.parse(readFileSync(stateFile, 'utf8')).store.process;
      } catch { /* not written yet */ }
      if (etcd) break;
      await sleep(5);
    }
    child.kill('SIGKILL');
    t.ok(etcd, 'lab up recorded etcd before it was killed');
    if (!etcd) return;
    t.ok(netnsWithPrefix(`vx-${name}.`).length >= 6, 'namespaces of the half-made lab exist');

    const st = await vxnet(['lab', 'status', '--name', name], env);
    t.equal(st.code, 1, 'status of a half-made lab exits 1');
    t.match(st.stdout, /degraded/);
    const up = await vxnet(['lab', 'up', '--name', name], env);
    t.equal(up.code, 1);
    t.match(up.stderr, /half made.*lab down --name/);

    const down = await vxnet(['lab', 'down', '--name', name], env);
    t.equal(down.code, 0, `down succeeds: ${down.stderr}`);
    t.same(netnsWithPrefix(`vx-${name}.`), [], 'no namespace left');
    t.equal(isAlive(etcd), false, 'etcd stopped');
    t.equal(existsSync(join(home, 'labs', name)), false, 'no files left');
  });

  t.test('two labs at once, on the same underlay CIDR, are independent', async (t) => {
    const { home, cleanup } = tempHome('two');
    const env = { VXNET_HOME: home };
    const a = uniqueLabName('a');
    const b = uniqueLabName('b');
    t.teardown(async () => {
      await vxnet(['lab', 'down', '--name', a], env);
      await vxnet(['lab', 'down', '--name', b], env);
      cleanup();
    });
    const [ua, ub] = await Promise.all([
      vxnet(['lab', 'up', '--name', a, '--hosts', '2', '--underlay', '203.0.113.0/24'], env),
      vxnet(['lab', 'up', '--name', b, '--hosts', '2', '--underlay', '203.0.113.0/24'], env),
    ]);
    t.equal(ua.code, 0, `lab a up: ${ua.stderr}`);
    t.equal(ub.code, 0, `lab b up: ${ub.stderr}`);
    // the same address answers in each lab, from that lab's own host
    for (const lab of [a, b]) {
      const r = await vxnet(['lab', 'exec', '--name', lab, 'h1', '--', 'ping', '-c1', '-W2', '203.0.113.2'], env);
      t.equal(r.code, 0, `h1 pings h2 in lab ${lab}`);
    }
    const ls = JSON.parse((await vxnet(['lab', 'ls', '--json'], env)).stdout) as Array<{ name: string; phase: string }>;
    t.same(ls.map((l) => [l.name, l.phase]).sort(), [[a, 'up'], [b, 'up']].sort());

    t.equal((await vxnet(['lab', 'down', '--name', a], env)).code, 0);
    t.same(netnsWithPrefix(`vx-${a}.`), [], 'lab a is gone');
    t.equal(netnsWithPrefix(`vx-${b}.`).length, 7, 'lab b keeps its 7 namespaces');
    const tls = JSON.parse((await vxnet(['lab', 'status', '--name', b, '--json'], env)).stdout).tls as { ca: string; cert: string; key: string };
    const r = await vxnet(['lab', 'exec', '--name', b, 'h2', '--', 'etcdctl', '--endpoints', 'https://203.0.113.254:2379',
      '--cacert', tls.ca, '--cert', tls.cert, '--key', tls.key, 'endpoint', 'health'], env);
    t.equal(r.code, 0, 'lab b etcd still healthy');
  });
}
