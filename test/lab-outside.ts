/**
 * The lab's outside (packages/cli/src/lab/outside.ts) on the real kernel: a router and
 * an outside host behind it, reachable from the lab's machines, answering TCP, UDP and
 * HTTP with the source address it sees, with no route back to any overlay address;
 * and gone with the lab, also after a `lab up` killed halfway.
 */
import t from 'tap';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, type ProcessRecord } from '@vxnet/common';
import { isRoot, netnsWithPrefix, setupFailure, tempHome, uniqueLabName, vxnet, VXNET_BIN } from './helpers/cli.js';

/** A UDP echo round trip from a lab host, by node (busybox nc has no UDP). */
const UDP_ECHO = [
  "const s = require('node:dgram').createSocket('udp4');",
  "s.on('message', (m, r) => { console.log(m.toString() + ' from ' + r.address + ':' + r.port); process.exit(0); });",
  "s.send('ping-udp', 7, process.argv[1]);",
  'setTimeout(() => { console.error("no answer"); process.exit(3); }, 2000);',
].join(' ');
/** Send 1 MiB to the discard port; prints the bytes written once the connection closed cleanly. */
const DISCARD = [
  "const c = require('node:net').connect(9, process.argv[1], () => c.end(Buffer.alloc(1 << 20)));",
  "c.on('close', (err) => { console.log(err ? 'error' : c.bytesWritten); process.exit(err ? 3 : 0); });",
  "c.on('error', (e) => { console.error(e.message); process.exit(3); });",
].join(' ');

if (!isRoot) {
  t.plan(0, 'skip: lab tests need root (network namespaces)');
} else {
  t.test('the outside answers TCP, UDP and HTTP from a lab host, sees its underlay address, has no way back to an overlay', async (t) => {
    const { home, cleanup } = tempHome('outside');
    const env = { VXNET_HOME: home };
    const name = uniqueLabName('out');
    const prefix = `vx-${name}.`;
    t.teardown(async () => {
      await vxnet(['lab', 'down', '--name', name], env);
      cleanup();
    });
    // an underlay on 198.51.100.0/24: the outside moves to 203.0.113.0/24
    const up = await vxnet(['lab', 'up', '--name', name, '--hosts', '1', '--underlay', '198.51.100.0/24'], env)
      .catch(setupFailure(name, env, cleanup));
    t.equal(up.code, 0, `lab up: ${up.stderr}`);
    t.match(up.stdout, /outside: 203\.0\.113\.10 in 203\.0\.113\.0\/24 \(namespace vx-\S+\.out\), behind router \S+\.rt at 198\.51\.100\.252/);

    const status = JSON.parse((await vxnet(['lab', 'status', '--json'], env)).stdout);
    t.equal(status.health, 'running');
    t.match(status.outside, {
      netns: `${prefix}out`, ip: '203.0.113.10', network: '203.0.113.0/24',
      routerNetns: `${prefix}rt`, routerIp: '203.0.113.1', routerUnderlayIp: '198.51.100.252',
      running: true, missingSockets: [],
    });
    t.type(status.outside.pid, 'number');
    const OUT = status.outside.ip as string;

    const exec = (cmd: string[], input?: string) => {
      const r = spawnSync(process.execPath, [VXNET_BIN, 'lab', 'exec', 'h1', '--', ...cmd], { env: { ...process.env, ...env }, encoding: 'utf8', input, timeout: 20_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    t.match(exec(['ip', 'route', 'show', 'default']).stdout, /^default via 198\.51\.100\.252 dev eth0/, 'h1\'s gateway is the router');
    t.match(execFileSync('ip', ['-n', `${prefix}ctl`, 'route', 'show', 'default'], { encoding: 'utf8' }), /default via 198\.51\.100\.252/, 'so is the controller machine\'s');
    t.equal(execFileSync('ip', ['-n', `${prefix}rt`, 'route', 'show', 'default'], { encoding: 'utf8' }).trim(), '', 'the router has no default route');

    const ping = exec(['ping', '-c1', '-W2', OUT]);
    t.equal(ping.code, 0, `h1 pings the outside: ${ping.stderr}`);
    const echo = exec(['busybox', 'nc', '-w', '2', OUT, '7'], 'hello over tcp\n');
    t.equal(echo.stdout, 'hello over tcp\n', 'tcp/7 echoes');
    const udp = exec([process.execPath, '-e', UDP_ECHO, OUT]);
    t.equal(udp.code, 0, `udp/7 answers: ${udp.stderr}`);
    t.match(udp.stdout, new RegExp(`^ping-udp from ${OUT.replace(/\./g, '\\.')}:7`), 'udp/7 echoes, from port 7');
    const discard = exec([process.execPath, '-e', DISCARD, OUT]);
    t.equal(discard.stdout.trim(), String(1 << 20), `tcp/9 takes 1 MiB: ${discard.stderr}`);
    const ipOnly = exec(['wget', '-qO-', `http://${OUT}/ip`]);
    t.equal(ipOnly.stdout, '198.51.100.1\n', 'GET /ip: the outside sees h1\'s underlay address');
    const full = exec(['wget', '-qO-', `http://${OUT}/`]);
    t.match(full.stdout, /^198\.51\.100\.1:\d+\n$/, 'GET /: address and port');

    // no way back to an overlay: from an overlay-like source address (as a container's packet
    // leaving its host without masquerade), the packet gets out, the answer does not come back
    t.match(spawnSync('ip', ['-n', `${prefix}out`, 'route', 'get', '10.128.0.1'], { encoding: 'utf8' }).stderr, /unreachable/i, 'the outside has no route to 10.128.0.1 (default overlay pool)');
    t.same(execFileSync('ip', ['-n', `${prefix}out`, 'route', 'show'], { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(' ')[0]).sort(), ['198.51.100.0/24', '203.0.113.0/24'],
      'the outside routes only to the underlay and its own network');
    t.equal(exec(['ip', 'addr', 'add', '10.128.0.1/32', 'dev', 'lo']).code, 0);
    t.not(exec(['ping', '-c1', '-W1', '-I', '10.128.0.1', OUT]).code, 0, 'from 10.128.0.1: no answer');
    t.equal(exec(['ping', '-c1', '-W1', '-I', '198.51.100.1', OUT]).code, 0, 'from the underlay address: an answer');
    t.equal(exec(['ip', 'addr', 'del', '10.128.0.1/32', 'dev', 'lo']).code, 0);

    // a stopped responder is a degraded lab; restart brings it back
    t.equal((await vxnet(['lab', 'kill', 'outside'], env)).code, 0);
    const st = await vxnet(['lab', 'status'], env);
    t.equal(st.code, 1, 'status exits 1 without the responder');
    t.match(st.stdout, /degraded[\s\S]*problem: the outside responder \(pid \d+\) is not running/);
    const re = await vxnet(['lab', 'restart', 'outside'], env);
    t.equal(re.code, 0, re.stderr);
    t.equal((await vxnet(['lab', 'status'], env)).code, 0, 'healthy again');
    t.equal(exec(['wget', '-qO-', `http://${OUT}/ip`]).stdout, '198.51.100.1\n', 'and answering');

    const responder: ProcessRecord = JSON.parse(readFileSync(join(home, 'labs', name, 'lab.json'), 'utf8')).outside.process;
    const down = await vxnet(['lab', 'down'], env);
    t.equal(down.code, 0, down.stderr);
    t.same(netnsWithPrefix(prefix), [], 'router and outside namespaces gone with the lab');
    t.equal(isAlive(responder), false, 'the responder is stopped');
  });

  t.test('lab down removes the outside of a lab up killed right after it started the responder', async (t) => {
    const { home, cleanup } = tempHome('outcrash');
    const env = { VXNET_HOME: home };
    const name = uniqueLabName('outcrash');
    t.teardown(async () => {
      await vxnet(['lab', 'down', '--name', name], env);
      cleanup();
    });
    const child = spawn(process.execPath, [VXNET_BIN, 'lab', 'up', '--name', name, '--hosts', '1'], { env: { ...process.env, ...env }, stdio: 'ignore' });
    const stateFile = join(home, 'labs', name, 'lab.json');
    let responder: ProcessRecord | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && child.exitCode === null && !responder) {
      try {
        responder = JSON.parse(readFileSync(stateFile, 'utf8')).outside?.process;
      } catch { /* not written yet */ }
      if (!responder) await sleep(5);
    }
    child.kill('SIGKILL');
    t.ok(responder, 'lab up recorded the responder before it was killed');
    if (!responder) return;
    t.ok(netnsWithPrefix(`vx-${name}.`).includes(`vx-${name}.out`), 'the outside namespace exists');
    const down = await vxnet(['lab', 'down', '--name', name], env);
    t.equal(down.code, 0, down.stderr);
    t.same(netnsWithPrefix(`vx-${name}.`), [], 'no namespace left');
    t.equal(isAlive(responder), false, 'the responder is stopped');
    t.equal(existsSync(join(home, 'labs', name)), false, 'no files left');
  });
}
