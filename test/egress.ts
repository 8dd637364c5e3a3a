/**
 * Traffic in and out of an overlay, in a 3-host lab on the real kernel, with the lab's
 * "outside" (a namespace behind a router on the underlay, with no route to any
 * overlay): egress masqueraded to the host's underlay address, `--internal` with no
 * way out, no network reaching another through the uplinks, published ports (from the
 * outside, from another host, hairpin), `net expose`, an agent SIGKILL under a UDP
 * stream, a foreign nft table and iptables rule left alone, and bad `-p` input.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { labHost, onHost, readLab, tryOnHost, type LabJson } from './helpers/lab.js';
import { until } from './helpers/wait.js';

interface ContainerJson {
  id: string;
  name: string;
  status: string;
  sandbox: string | null;
  networks: Array<{ network: string; ip: string }>;
  publishedPorts?: Array<{ hostIp: string; hostPort: number; containerPort: number; protocol: string }>;
}

/** Sends one UDP datagram per `count` (its sequence number) every `everyMs`, or, with count 1, prints the first reply. */
const UDP_CLIENT = `
const [host, port, count, everyMs] = process.argv.slice(1); const s = require('dgram').createSocket('udp4');
if (count === '1') { s.on('message', (m) => { console.log(m.toString()); process.exit(0); }); s.send('udp-hello', Number(port), host); setTimeout(() => process.exit(1), 2000); }
else { let i = 0; const t = setInterval(() => { s.send(String(i++), Number(port), host); if (i >= Number(count)) { clearInterval(t); setTimeout(() => process.exit(0), 100); } }, Number(everyMs)); }`;

interface OutsideJson {
  netns: string;
  ip: string;
}

/** The table vxnet owns, without handles and counters (two listings of the same rules compare equal). */
function normalisedTable(listing: string): string {
  return listing.replace(/\s*# handle \d+/g, '').replace(/counter packets \d+ bytes \d+/g, 'counter').trim();
}

if (!isRoot) {
  t.plan(0, 'skip: the lab needs root (namespaces, runc, nftables)');
} else {
  const { home, cleanup } = tempHome('egress');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('eg');
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const failed = setupFailure(lab, env, cleanup);
  const ok = async (args: string[]) => {
    const r = await vxnet(args, env);
    if (r.code !== 0) throw new Error(`vxnet ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '3', '--underlay', '192.0.2.0/24'], env);
  if (up.code !== 0) await failed(new Error(`lab up: ${up.stderr}`));
  const state: LabJson = readLab(home, lab);
  const h = (name: string) => labHost(state, name);
  const status = JSON.parse(await ok(['lab', 'status', '--json'])) as { outside: OutsideJson };
  const outside = status.outside;
  const inOutside = (args: string[]) => spawn('nsenter', [`--net=/run/netns/${outside.netns}`, '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const outsideRun = (args: string[]): Promise<{ code: number; stdout: string }> => new Promise((resolve) => {
    const p = inOutside(args);
    let stdout = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    p.on('exit', (code) => resolve({ code: code ?? 1, stdout }));
    p.stdin.end();
  });
  const on = (host: string, args: string[]) => vxnet(['-H', host, ...args], env);
  const run = async (host: string, args: string[]): Promise<ContainerJson> => {
    const id = (await ok(['-H', host, 'run', '-d', ...args])).trim();
    return JSON.parse(await ok(['-H', host, 'inspect', '--json', id])) as ContainerJson;
  };
  const sh = (host: string, c: string, script: string, timeoutMs = 10_000) => vxnet(['-H', host, 'exec', c, 'sh', '-c', script], env, timeoutMs);
  const reaches = async (host: string, c: string, ip: string) => (await on(host, ['exec', c, 'ping', '-c1', '-W1', ip])).code === 0;
  /** Run a program of this machine in a container's network namespace (busybox nc has no UDP): node for UDP. */
  const inSandbox = (host: string, c: ContainerJson, args: string[]): Promise<{ code: number; stdout: string }> => new Promise((resolve) => {
    const k = h(host).keeper.pid;
    const p = spawn('nsenter', [`--net=/proc/${k}/ns/net`, `--mount=/proc/${k}/ns/mnt`, '--', 'nsenter', `--net=${c.sandbox}`, '--', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.on('exit', (code) => resolve({ code: code ?? 1, stdout }));
  });

  for (const args of [['net1'], ['net2'], ['--internal', 'inet']]) await ok(['net', 'create', ...args]);
  const c1 = await run('h1', ['--name', 'c1', '--net', 'net1', 'busybox']);
  const c3 = await run('h3', ['--name', 'c3', '--net', 'net1', 'busybox']);
  const n2 = await run('h2', ['--name', 'n2', '--net', 'net2', 'busybox']);
  const i1 = await run('h1', ['--name', 'i1', '--net', 'inet', 'busybox']);
  await run('h2', ['--name', 'i2', '--net', 'inet', 'busybox']);
  const ip = (c: ContainerJson) => c.networks[0]!.ip;

  t.test('egress: a container reaches the outside, masqueraded to its host\'s underlay address', async (t) => {
    t.ok((await until(() => reaches('h1', 'c1', outside.ip), 5000, 200)).value, `c1 (h1) pings the outside at ${outside.ip}`);
    const http = await sh('h1', 'c1', `timeout 3 wget -q -O- http://${outside.ip}/ip`);
    t.equal(http.code, 0, `HTTP to the outside: ${http.stderr}`);
    t.match(http.stdout, /^192\.0\.2\.1$/m, 'the outside sees h1\'s underlay address as the source');
    const tcp = await sh('h1', 'c1', `echo tcp-hello | nc -w 2 ${outside.ip} 7`);
    t.match(tcp.stdout, /tcp-hello/, 'TCP echo from the outside');
    const udp = await inSandbox('h1', c1, [process.execPath, '-e', UDP_CLIENT, outside.ip, '7', '1', '0']);
    t.match(udp.stdout, /udp-hello/, 'UDP echo from the outside');
    const http3 = await sh('h3', 'c3', `timeout 3 wget -q -O- http://${outside.ip}/ip`);
    t.match(http3.stdout, /^192\.0\.2\.3$/m, 'and from h3, masqueraded to h3\'s address');
    const route = await outsideRun(['ip', 'route', 'get', ip(c1)]);
    t.not(route.code, 0, `the outside itself has no route into the overlay (ip route get ${ip(c1)}: ${route.stdout.trim() || 'unreachable'})`);
  });

  t.test('--internal: no way out, peers still by name; no network reaches another through the uplinks', async (t) => {
    t.notOk(await reaches('h1', 'i1', outside.ip), 'i1 (internal) cannot reach the outside');
    t.notOk(await reaches('h1', 'i1', ip(c1)), 'i1 cannot reach c1 on net1 (same host)');
    t.ok((await until(() => reaches('h1', 'i1', 'i2'), 5000, 200)).value, 'i1 pings i2 (h2) by name');
    const inspect = JSON.parse(await ok(['net', 'inspect', '--json', 'inet'])) as { network: { internal: boolean } };
    t.equal(inspect.network.internal, true, 'net inspect shows internal');
    t.match(await ok(['net', 'inspect', 'inet']), /yes: no way out of the overlay/, 'and says what it means');
    for (const [host, c, target, what] of [
      ['h1', 'c1', ip(n2), 'c1 (h1, net1) -> n2 (h2, net2)'],
      ['h3', 'c3', ip(n2), 'c3 (h3, net1) -> n2 (h2, net2)'],
      ['h2', 'n2', ip(c1), 'n2 (h2, net2) -> c1 (h1, net1)'],
      ['h2', 'n2', ip(c3), 'n2 (h2, net2) -> c3 (h3, net1)'],
      ['h1', 'c1', ip(i1), 'c1 (h1, net1) -> i1 (h1, internal)'],
    ] as const) t.notOk(await reaches(host, c, target), `${what}: no path`);
  });

  t.test('published ports: from the outside, from another host, hairpin; conflicts refused; gone after rm', async (t) => {
    const web = await run('h1', ['--name', 'web', '--net', 'net1', '-p', '8080:80', 'busybox', 'sh', '-c',
      'mkdir -p /tmp/www && echo hello-from-web > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www']);
    t.match(web.publishedPorts, [{ hostIp: '192.0.2.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], 'inspect shows the port on h1\'s underlay address');
    t.match(await ok(['-H', 'h1', 'ps']), /192\.0\.2\.1:8080->80\/tcp/, 'ps shows it');
    const url = 'http://192.0.2.1:8080/';
    const fromOutside = await until(async () => (await outsideRun(['timeout', '3', 'busybox', 'wget', '-q', '-O-', url])).stdout.includes('hello-from-web'), 5000, 200);
    t.ok(fromOutside.value, 'the outside gets the container\'s answer');
    t.match((await sh('h3', 'c3', `timeout 3 wget -q -O- ${url}`)).stdout, /hello-from-web/, 'a container on h3 too');
    t.match((await sh('h1', 'c1', `timeout 3 wget -q -O- ${url}`)).stdout, /hello-from-web/, 'hairpin: a container on h1 too');

    const before = await ok(['-H', 'h1', 'ps', '-a', '-q']);
    const clash = await on('h1', ['run', '-d', '--name', 'web2', '--net', 'net1', '-p', '8080:80', 'busybox']);
    t.not(clash.code, 0, 'a second container asking for 8080 on h1 is refused');
    t.match(clash.stderr, /8080/, `and told why: ${clash.stderr.trim()}`);
    t.equal(clash.stderr.trim().split('\n').length, 1, 'in one line');
    t.equal(await ok(['-H', 'h1', 'ps', '-a', '-q']), before, 'nothing was made');

    await ok(['-H', 'h1', 'rm', '-f', 'web']);
    const closed = await outsideRun(['timeout', '3', 'busybox', 'wget', '-q', '-O-', url]);
    t.not(closed.code, 0, 'after rm the port is closed');
  });

  t.test('net expose: the host reaches containers on every host by their own address, no NAT', async (t) => {
    const exposed = JSON.parse(await ok(['-H', 'h2', 'net', 'expose', '--json', 'net1'])) as { ip: string };
    t.match(exposed.ip, /^\d+\.\d+\.\d+\.\d+$/, `h2 got ${exposed.ip} on net1`);
    const again = JSON.parse(await ok(['-H', 'h2', 'net', 'expose', '--json', 'net1'])) as { ip: string };
    t.equal(again.ip, exposed.ip, 'exposing again gives the same address');
    const ping = (target: string) => tryOnHost(h('h2'), ['ping', '-c1', '-W1', target]).status === 0;
    t.ok((await until(() => ping(ip(c1)), 5000, 200)).value, 'h2 pings c1 on h1');
    t.ok(ping(ip(c3)), 'h2 pings c3 on h3');
    // a TCP server in c3's network namespace (h3) answering with the peer address it sees
    const server = inSandbox('h3', c3, [process.execPath, '-e',
      "const srv = require('net').createServer((s) => { s.end(s.remoteAddress + '\\n'); srv.close(); }).listen(9000, '0.0.0.0', () => console.log('listening'))"]);
    await new Promise((r) => setTimeout(r, 300));
    const seen = await until(() => {
      const r = tryOnHost(h('h2'), [process.execPath, '-e',
        `require('net').connect(9000, '${ip(c3)}').on('data', (d) => process.stdout.write(d)).on('error', () => process.exit(1))`]);
      return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
    }, 5000, 200);
    t.equal(seen.value, exposed.ip, `h2 connects over TCP to c3 on h3, which sees h2's exposed address (no NAT)`);
    await server;
    await ok(['-H', 'h2', 'net', 'unexpose', 'net1']);
    t.notOk(ping(ip(c1)), 'after unexpose h2 no longer reaches c1');
  });

  t.test('an agent SIGKILL under a UDP stream to the outside loses at most one packet; the table comes back as it was', async (t) => {
    const listing = () => normalisedTable(onHost(h('h1'), ['nft', 'list', 'table', 'ip', 'vxnet']));
    const foreignNft = 'table ip foreign-t {\n\tchain c {\n\t\ttype filter hook input priority 10; policy accept;\n\t\tip saddr 203.0.113.7 counter drop\n\t}\n}';
    onHost(h('h1'), ['sh', '-c', `echo '${foreignNft}' | nft -f -`]);
    onHost(h('h1'), ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', '203.0.113.0/24', '-j', 'RETURN']);
    const foreignBefore = onHost(h('h1'), ['nft', 'list', 'table', 'ip', 'foreign-t']);
    const iptablesBefore = onHost(h('h1'), ['iptables', '-t', 'nat', '-S', 'POSTROUTING']);
    const desired = listing();

    // a receiver in the outside counting sequence numbers, a sender in c1 (h1)
    const receiver = inOutside([process.execPath, '-e', `
      const s = require('dgram').createSocket('udp4'); const seen = new Set();
      s.on('message', (m) => seen.add(m.toString().trim()));
      s.bind(9999, () => console.log('ready'));
      process.stdin.on('data', () => { console.log(JSON.stringify([...seen])); process.exit(0); });`]);
    let out = '';
    receiver.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    await until(() => out.includes('ready'), 5000, 50);
    const count = 400;
    const sender = inSandbox('h1', c1, [process.execPath, '-e', UDP_CLIENT, outside.ip, '9999', String(count), '10']);
    await new Promise((r) => setTimeout(r, 1000));
    await ok(['lab', 'kill', 'h1', 'agent', '--signal', 'KILL']);
    await ok(['lab', 'restart', 'h1', 'agent']);
    const sent = await sender;
    t.equal(sent.code, 0, 'the sender ran to the end');
    await new Promise((r) => setTimeout(r, 500));
    receiver.stdin.write('done\n');
    await new Promise((r) => receiver.on('exit', r));
    const seen = new Set(JSON.parse(out.split('\n').find((l) => l.startsWith('[')) ?? '[]') as string[]);
    const lost = count - seen.size;
    t.comment(`UDP datagrams: ${count} sent, ${seen.size} received across the agent SIGKILL + restart`);
    t.ok(lost <= 1, `at most one lost (${lost})`);

    t.equal(listing(), desired, 'after the restart the table equals the desired state');
    t.equal(onHost(h('h1'), ['nft', 'list', 'table', 'ip', 'foreign-t']), foreignBefore, 'a foreign nft table survived byte for byte');
    t.equal(onHost(h('h1'), ['iptables', '-t', 'nat', '-S', 'POSTROUTING']), iptablesBefore, 'a foreign iptables rule survived byte for byte');
  });

  t.test('bad -p: one line, non-zero exit, nothing made', async (t) => {
    const before = await ok(['-H', 'h1', 'ps', '-a', '-q']);
    const cases: Array<[string, RegExp]> = [
      ['0:80', /port/i],
      ['70000:80', /port/i],
      ['abc:80', /abc/],
      ['8081:80/sctp', /sctp/],
      ['192.0.2.99:8082:80', /192\.0\.2\.99/],
    ];
    for (const [spec, why] of cases) {
      const r = await on('h1', ['run', '-d', '--net', 'net1', '-p', spec, 'busybox']);
      t.not(r.code, 0, `-p ${spec} is refused`);
      t.match(r.stderr, why, `-p ${spec}: ${r.stderr.trim()}`);
      t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    }
    t.equal(await ok(['-H', 'h1', 'ps', '-a', '-q']), before, 'no container was made');
  });
}
