/**
 * Encrypted overlays (issue 13) in a 3-host lab on the real kernel: this machine has
 * no kernel WireGuard, so every host runs Debian's wireguard-go under its agent.
 * Ping and TCP across hosts on an encrypted network; a capture on the underlay
 * switch sees no VXLAN of that network, only WireGuard, while a plain network on
 * the same hosts still shows VXLAN; DF pings at the MTU and one byte over; an agent
 * SIGKILL + restart under a 10/s ping (same key, peers back, at most one lost);
 * wireguard-go killed and brought back by the agent; a dead host's peer gone within
 * the liveness TTL + 1 s; and the private keys found in no log, store key, API
 * answer or inspect output.
 *
 * test-needs: wireguard (scripts/install-wireguard.sh: wireguard-tools, wireguard-go, tcpdump)
 */
import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { labHost, onHost, readLab, tryOnHost, type HostJson, type LabJson } from './helpers/lab.js';
import { until } from './helpers/wait.js';

interface ContainerJson {
  id: string;
  name: string;
  sandbox: string | null;
  networks: Array<{ network: string; ip: string }>;
}

const LIVENESS_TTL_S = 10; // the agent's default, which the lab uses
const installed = (name: string) => (process.env.PATH ?? '').split(':').some((dir) => {
  try {
    accessSync(join(dir, name), constants.X_OK);
    return true;
  } catch {
    return false;
  }
});
const missing = ['wg', 'wireguard-go', 'tcpdump'].filter((b) => !installed(b));

if (!isRoot) {
  t.plan(0, 'skip: the lab needs root (namespaces, runc, TUN)');
} else if (missing.length > 0) {
  t.plan(0, `skip: ${missing.join(', ')} not installed (scripts/install-wireguard.sh)`);
} else {
  const { home, cleanup } = tempHome('encrypted');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('wg');
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
  const sw = `vx-${lab}.sw`;
  const run = async (host: string, args: string[]): Promise<ContainerJson> => {
    const id = (await ok(['-H', host, 'run', '-d', ...args])).trim();
    return JSON.parse(await ok(['-H', host, 'inspect', '--json', id])) as ContainerJson;
  };
  const ip = (c: ContainerJson) => c.networks[0]!.ip;
  /** A program of this machine (iputils ping, not busybox's) in a container's network namespace. */
  const inSandbox = (host: string, c: ContainerJson, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> => new Promise((resolve) => {
    const k = h(host).keeper.pid;
    const p = spawn('nsenter', [`--net=/proc/${k}/ns/net`, `--mount=/proc/${k}/ns/mnt`, '--', 'nsenter', `--net=${c.sandbox}`, '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
  /**
   * tcpdump on the switch port of h1 (everything h1 sends and gets on the underlay)
   * while `traffic` runs: the decoded lines (-v decodes UDP 4789 as VXLAN with its VNI).
   */
  const capture = async (filter: string, traffic: () => Promise<unknown>): Promise<string[]> => {
    const p = spawn('nsenter', [`--net=/run/netns/${sw}`, '--', 'tcpdump', '-i', 'p-h1', '-nn', '-l', '-v', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    await until(() => err.includes('listening on'), 5000, 20);
    await traffic();
    await new Promise((r) => setTimeout(r, 300));
    p.kill('SIGINT'); // our own child, by its handle
    await new Promise((r) => p.on('exit', r));
    return out.split('\n').filter((l) => l.trim() !== '');
  };
  /** The pid of the wireguard-go process in `host`'s network namespace. */
  const wireguardGoOf = (host: HostJson): number | undefined => {
    const ns = readlinkSync(`/proc/${host.keeper.pid}/ns/net`);
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === 'wireguard-go' && readlinkSync(`/proc/${d}/ns/net`) === ns) return Number(d);
      } catch {
        // gone meanwhile
      }
    }
    return undefined;
  };
  const wgPeers = (host: HostJson) => onHost(host, ['wg', 'show', 'vxwg0', 'peers']).split('\n').filter((l) => l !== '').sort();

  let e1: ContainerJson;
  let e2: ContainerJson;
  let p1: ContainerJson;
  let p2: ContainerJson;
  let enetVni = 0;
  let pnetVni = 0;
  try {
    await ok(['net', 'create', '--opt', 'encrypted=', 'enet']);
    await ok(['net', 'create', 'pnet']);
    enetVni = (JSON.parse(await ok(['net', 'inspect', '--json', 'enet'])) as { network: { vni: number } }).network.vni;
    pnetVni = (JSON.parse(await ok(['net', 'inspect', '--json', 'pnet'])) as { network: { vni: number } }).network.vni;
    e1 = await run('h1', ['--name', 'e1', '--net', 'enet', 'busybox']);
    e2 = await run('h2', ['--name', 'e2', '--net', 'enet', 'busybox', 'sh', '-c', 'while true; do echo tcp-through-wireguard | nc -l -p 7000; done']);
    await run('h3', ['--name', 'e3', '--net', 'enet', 'busybox']);
    p1 = await run('h1', ['--name', 'p1', '--net', 'pnet', 'busybox']);
    p2 = await run('h2', ['--name', 'p2', '--net', 'pnet', 'busybox']);
  } catch (err) {
    await failed(err);
    throw err;
  }

  t.test('net create --opt encrypted: inspect says so, with the backend; a typo is refused', async (t) => {
    const detail = JSON.parse(await ok(['net', 'inspect', '--json', 'enet'])) as { network: { encrypted?: boolean }; hosts: Array<{ host: string; encryption?: string }> };
    t.equal(detail.network.encrypted, true);
    t.same(detail.hosts.map((x) => x.encryption), ['wireguard-go', 'wireguard-go', 'wireguard-go'], 'every host encrypts with wireguard-go (no kernel WireGuard here)');
    const text = await ok(['net', 'inspect', 'enet']);
    t.match(text, /Encrypted:\s+yes: VXLAN between hosts inside WireGuard \(wireguard-go on h1, h2, h3\)/);
    t.match(await ok(['net', 'inspect', 'pnet']), /Encrypted:\s+no/);
    const typo = await vxnet(['net', 'create', '--opt', 'encrypted=ture', 'enet2'], env);
    t.not(typo.code, 0);
    t.match(typo.stderr, /invalid option encrypted="ture"/);
  });

  t.test('ping and TCP across hosts on the encrypted network', async (t) => {
    const ping = await until(async () => (await vxnet(['-H', 'h1', 'exec', 'e1', 'ping', '-c1', '-W1', 'e2'], env)).code === 0, 10_000, 200);
    t.ok(ping.value, `e1 (h1) pings e2 (h2) by name (${ping.ms} ms)`);
    const tcp = await until(async () => (await vxnet(['-H', 'h1', 'exec', 'e1', 'sh', '-c', `nc -w 2 ${ip(e2)} 7000`], env)).stdout.includes('tcp-through-wireguard'), 10_000, 200);
    t.ok(tcp.value, 'TCP from e1 to e2 gets the server\'s line');
    t.ok((await vxnet(['-H', 'h3', 'exec', 'e3', 'ping', '-c1', '-W2', 'e1'], env)).code === 0, 'e3 (h3) pings e1 (h1)');
  });

  t.test('the underlay carries the encrypted network only inside WireGuard; the plain one still as VXLAN', async (t) => {
    const enc = await capture('udp port 4789 or udp port 51820', () => inSandbox('h1', e1, ['ping', '-c', '10', '-i', '0.1', '-W', '1', ip(e2)]));
    const vxlanOfEnet = enc.filter((l) => new RegExp(`vni ${enetVni}\\b`).test(l));
    const wireguard = enc.filter((l) => /\.51820[ :]/.test(l));
    t.equal(vxlanOfEnet.length, 0, `no VXLAN packet with the encrypted network's VNI ${enetVni} on the underlay`);
    t.ok(wireguard.length >= 10, `WireGuard packets (UDP 51820) carry it: ${wireguard.length}`);
    t.notOk(enc.some((l) => /\.4789[ :]/.test(l) && !/vni/.test(l) && !/51820/.test(l)), 'and no other UDP 4789 packet');

    const plain = await capture('udp port 4789', () => inSandbox('h1', p1, ['ping', '-c', '10', '-i', '0.1', '-W', '1', ip(p2)]));
    const vxlanOfPnet = plain.filter((l) => new RegExp(`vni ${pnetVni}\\b`).test(l));
    t.ok(vxlanOfPnet.length >= 10, `the plain network's VXLAN (VNI ${pnetVni}) is on the underlay as before: ${vxlanOfPnet.length} packets`);
  });

  t.test('plaintext VXLAN injected with the encrypted network\'s VNI is dropped on arrival', async (t) => {
    const counter = () => Number(/counter packets (\d+)/.exec(onHost(h('h1'), ['nft', 'list', 'chain', 'ip', 'vxnet', 'input']))?.[1] ?? -1);
    const before = counter();
    t.ok(before >= 0, 'h1 has the input rule for encrypted VNIs');
    // from h2's host namespace, straight over the underlay: VXLAN header (flags I, VNI) + a broadcast Ethernet frame
    const send = `const s = require('dgram').createSocket('udp4'); const vni = ${enetVni};
      const pkt = Buffer.concat([Buffer.from([0x08, 0, 0, 0, (vni >> 16) & 255, (vni >> 8) & 255, vni & 255, 0]), Buffer.alloc(6, 0xff), Buffer.from('020000000001', 'hex'), Buffer.from([0x08, 0x06]), Buffer.alloc(28)]);
      let n = 0; const t = setInterval(() => { s.send(pkt, 4789, '192.0.2.1'); if (++n === 5) { clearInterval(t); setTimeout(() => process.exit(0), 50); } }, 10);`;
    tryOnHost(h('h2'), [process.execPath, '-e', send]);
    t.ok(counter() >= before + 5, `the 5 injected packets were dropped (counter ${before} -> ${counter()})`);
  });

  t.test('DF ping at the network MTU passes; MTU + 1 fails locally', async (t) => {
    // from `ip link`: /sys/class/net shows the namespace sysfs was mounted in, not the one entered
    const link = onHost(h('h1'), ['nsenter', `--net=${e1.sandbox}`, '--', 'ip', '-o', 'link', 'show', 'eth0']);
    const mtu = Number(/ mtu (\d+)/.exec(link)?.[1]);
    t.equal(mtu, 1500 - 80 - 50, 'the encrypted network\'s MTU is underlay - WireGuard - VXLAN');
    const payload = mtu - 28;
    const at = await inSandbox('h1', e1, ['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', String(payload), ip(e2)]);
    t.equal(at.code, 0, `ping -M do -s ${payload} (${mtu} bytes) passes: ${at.stdout.split('\n').find((l) => /received/.test(l)) ?? at.stderr}`);
    const over = await inSandbox('h1', e1, ['ping', '-c', '1', '-W', '2', '-M', 'do', '-s', String(payload + 1), ip(e2)]);
    t.not(over.code, 0, 'one byte more fails');
    t.match(`${over.stdout}${over.stderr}`, /message too long|mtu/i, `locally: ${over.stderr.trim() || over.stdout.trim()}`);
  });

  t.test('agent SIGKILL + restart under a 10/s ping: same public key, peers back, at most one lost', async (t) => {
    const keyBefore = onHost(h('h1'), ['wg', 'show', 'vxwg0', 'public-key']).trim();
    const peersBefore = wgPeers(h('h1'));
    t.equal(peersBefore.length, 2, 'h1 has h2 and h3 as WireGuard peers');
    const pinging = inSandbox('h1', e1, ['ping', '-c', '60', '-i', '0.1', '-W', '1', ip(e2)]);
    await new Promise((r) => setTimeout(r, 1500));
    await ok(['lab', 'kill', 'h1', 'agent', '--signal', 'KILL']);
    await ok(['lab', 'restart', 'h1', 'agent']);
    const res = await pinging;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(res.stdout);
    const lost = m ? Number(m[1]) - Number(m[2]) : 60;
    t.comment(`ping at 10/s across the agent SIGKILL + restart: ${m?.[0] ?? res.stdout}`);
    t.ok(lost <= 1, `at most one lost (${lost})`);
    t.equal(onHost(h('h1'), ['wg', 'show', 'vxwg0', 'public-key']).trim(), keyBefore, 'the same public key');
    const back = await until(() => wgPeers(h('h1')).join() === peersBefore.join(), 5000, 100);
    t.ok(back.value, 'the same peers, reconciled');
  });

  t.test('wireguard-go killed: the agent starts it again and re-applies within seconds', async (t) => {
    // only h2's wireguard-go: the one process named so in h2's network namespace
    const pid = wireguardGoOf(h('h2'));
    t.ok(pid !== undefined, `wireguard-go of h2 runs (pid ${pid})`);
    if (pid === undefined) return;
    process.kill(pid, 'SIGKILL');
    const back = await until(async () => (await inSandbox('h1', e1, ['ping', '-c', '1', '-W', '1', ip(e2)])).code === 0 && wgPeers(h('h2')).length === 2, 10_000, 100);
    t.ok(back.value, `e1 reaches e2 again and h2 has its peers again after ${back.ms} ms`);
  });

  t.test('a dead host\'s WireGuard peer goes within the liveness TTL + 1 s', async (t) => {
    const h3Key = onHost(h('h3'), ['wg', 'show', 'vxwg0', 'public-key']).trim();
    t.ok(wgPeers(h('h1')).includes(h3Key), 'h1 has h3 as a peer');
    const before = Date.now();
    await ok(['lab', 'kill', 'h3', 'agent', '--signal', 'KILL']);
    // from the kill: `lab kill` returns right after sending SIGKILL (its own start-up,
    // up to a second under load, comes before and is not the host's death)
    const t0 = Date.now();
    const gone = await until(() => !wgPeers(h('h1')).includes(h3Key), (LIVENESS_TTL_S + 5) * 1000, 100);
    const ms = Date.now() - t0;
    t.ok(gone.value, `h3's peer left h1 ${ms} ms after the SIGKILL (${Date.now() - before} ms after \`lab kill\` was started)`);
    t.ok(ms <= (LIVENESS_TTL_S + 1) * 1000, `within ${LIVENESS_TTL_S + 1} s`);
    t.ok(wgPeers(h('h1')).length === 1, 'h2 stays');
    await ok(['lab', 'restart', 'h3', 'agent']);
  });

  t.test('the private keys appear in no log, store key, API answer or inspect output', async (t) => {
    const secrets: string[] = [];
    for (const host of state.hosts) {
      const file = join(host.agent.stateDir, 'wireguard.key');
      t.equal(statSync(file).mode & 0o777, 0o600, `${host.name}: the key file is 0600`);
      const b64 = readFileSync(file, 'utf8').trim();
      secrets.push(b64, Buffer.from(b64, 'base64').toString('hex'));
    }
    const haystacks: Array<[string, string]> = [];
    // every daemon log of the lab (lab dir: <host>/agent.log, engine.log, etcd.log, ... and wireguard-go's)
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const p = join(dir, name);
        const st = statSync(p, { throwIfNoEntry: false });
        if (!st) continue;
        if (st.isDirectory()) {
          if (!/\/(etcd|fs)$/.test(p)) walk(p);
        } else if (name.endsWith('.log')) {
          haystacks.push([p, readFileSync(p, 'utf8')]);
        }
      }
    };
    walk(join(home, 'labs', lab));
    t.ok(haystacks.some(([p]) => p.endsWith('agent.log')), `logs read: ${haystacks.length}`);
    const admin = state.pki?.clients.admin;
    const etcdTls = state.pki && admin ? ['--cacert', state.pki.ca, '--cert', admin.cert, '--key', admin.key] : [];
    const etcd = tryOnHost(h('h1'), ['etcdctl', '--endpoints', state.store.endpoints[0]!, ...etcdTls, 'get', '--prefix', '/']);
    t.equal(etcd.status, 0, 'etcdctl get --prefix /');
    haystacks.push(['store', etcd.stdout]);
    for (const args of [['net', 'inspect', '--json', 'enet'], ['net', 'inspect', 'enet'], ['host', 'ls', '--json'], ['lease', 'ls', '--json'],
      ['-H', 'h1', 'inspect', '--json', 'e1'], ['-H', 'h1', 'inspect', 'e1'], ['-H', 'h1', 'ps', '--json']]) {
      haystacks.push([`vxnet ${args.join(' ')}`, await ok(args)]);
    }
    for (const host of state.hosts) {
      const status = await new Promise<string>((resolve, reject) => {
        const req = request({ socketPath: host.agent.socket, path: '/v1/status' }, (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end();
      });
      t.match(JSON.parse(status), { encryption: { available: true, backend: 'wireguard-go', device: 'vxwg0' } }, `${host.name}: /v1/status shows the public side`);
      haystacks.push([`${host.name} agent /v1/status`, status]);
    }
    for (const [where, text] of haystacks) {
      const found = secrets.filter((s) => text.includes(s));
      if (found.length > 0) t.fail(`a private key appears in ${where}`);
    }
    t.pass(`searched ${haystacks.length} places for ${state.hosts.length} private keys`);
  });

  t.test('unencrypted networks are untouched: their VTEP is on the underlay as before', async (t) => {
    const r = spawnSync('nsenter', [`--net=/proc/${h('h1').keeper.pid}/ns/net`, `--mount=/proc/${h('h1').keeper.pid}/ns/mnt`, '--', 'sh', '-c', 'for n in /run/netns/vxnet-*; do ip -n "$(basename $n)" -d link show vxlan0; done'], { encoding: 'utf8' });
    t.match(r.stdout, new RegExp(`vxlan id ${pnetVni} local 192\\.0\\.2\\.1 `), 'plain: local = the underlay address');
    t.match(r.stdout, new RegExp(`vxlan id ${enetVni} local 100\\.127\\.\\d+\\.\\d+ `), 'encrypted: local = the tunnel address');
  });
}
