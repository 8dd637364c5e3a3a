/**
 * The vxnet CNI plugin against the spec, in a 2-host lab on the real kernel, driven by
 * the project's own libcni-like runtime (helpers/cni-harness.ts): every command over
 * cniVersion 0.3.1, 0.4.0, 1.0.0 and 1.1.0, chained before Debian's `portmap` (a Go
 * plugin parsing vxnet's result with libcni's own types) where that speaks the
 * version; names across hosts; the error cases of the issue; DEL without netns or
 * prevResult; the agent freeing endpoints whose namespace vanished; GC; STATUS and
 * ADD with the agent down; 20 parallel ADDs.
 *
 * test-needs: podman (its install brings containernetworking-plugins: /usr/lib/cni/portmap)
 */
import t from 'tap';
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalEndpoint } from '@vxnet/common/api';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { CniCallFailed, CniRuntime, type Attachment, type ConfList } from './helpers/cni-harness.js';
import { labHost, onHost, readLab, tryOnHost, type HostJson, type LabJson } from './helpers/lab.js';
import { until } from './helpers/wait.js';

const VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'];
/** Debian's plugins (containernetworking-plugins 1.1.1) speak up to 1.0.0. */
const DEBIAN_CNI = '/usr/lib/cni';
const PORTMAP_VERSIONS = new Set(['0.3.1', '0.4.0', '1.0.0']);
const DNS = '169.254.169.53';

/** GET on a lab host's agent socket. */
function agentEndpoints(h: HostJson): Promise<LocalEndpoint[]> {
  return new Promise((resolve, reject) => {
    request({ socketPath: h.agent.socket, path: '/v1/endpoints', method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
        try {
          resolve((JSON.parse(body) as { endpoints: LocalEndpoint[] }).endpoints);
        } catch (err) {
          reject(err);
        }
      });
    }).on('error', reject).end();
  });
}

if (!isRoot) {
  t.plan(0, 'skip: the lab needs root (namespaces)');
} else if (!existsSync(join(DEBIAN_CNI, 'portmap'))) {
  t.plan(0, `skip: Debian's containernetworking-plugins is not installed (${DEBIAN_CNI}/portmap; scripts/test.sh installs it with podman)`);
} else {
  const { home, cleanup } = tempHome('cni');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('cni');
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
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--underlay', '192.0.2.0/24'], env);
  if (up.code !== 0) await failed(new Error(`lab up: ${up.stderr}`));
  const state: LabJson = readLab(home, lab);
  const h1 = labHost(state, 'h1');
  const h2 = labHost(state, 'h2');
  for (const n of ['net1', 'net2']) await ok(['net', 'create', n]);

  // `vxnet cni install` on each host, into directories of this test (paths valid inside the machines too)
  const binDir = (h: HostJson) => join(home, 'cni', h.name, 'bin');
  for (const h of [h1, h2]) {
    for (const net of ['net1', 'net2']) {
      await ok(['lab', 'exec', '--name', lab, h.name, '--', process.execPath, join(import.meta.dirname, '../../packages/cli/bin/vxnet.js'), '--lab', lab,
        'cni', 'install', '--dir', binDir(h), '--conf-dir', join(home, 'cni', h.name, 'net.d'), net]);
    }
  }
  const runtime = (h: HostJson, version: string, network = 'net1', chain = true): CniRuntime => {
    const list: ConfList = {
      cniVersion: version, name: network,
      plugins: [{ type: 'vxnet', network, capabilities: { aliases: true, ips: true } }, ...(chain && PORTMAP_VERSIONS.has(version) ? [{ type: 'portmap', capabilities: { portMappings: true } }] : [])],
    };
    return new CniRuntime(h, list, [binDir(h), DEBIAN_CNI]);
  };
  let seq = 0;
  /** A fresh container network namespace on host h (removed with the lab). */
  const sandbox = (h: HostJson, tag: string): Attachment => {
    const name = `ct-${tag}-${++seq}`;
    onHost(h, ['ip', 'netns', 'add', name]);
    onHost(h, ['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return { containerId: `${tag.replace(/[^a-z0-9]/g, '')}${seq.toString().padStart(4, '0')}${'0'.repeat(52)}`.slice(0, 64), netns: `/run/netns/${name}`, ifname: 'eth0' };
  };
  const inCt = (h: HostJson, a: Attachment, args: string[]) => tryOnHost(h, ['nsenter', `--net=${a.netns}`, '--', ...args]);
  const pings = (h: HostJson, a: Attachment, target: string) => inCt(h, a, ['ping', '-c1', '-W1', target]).status === 0;
  const resolves = (h: HostJson, a: Attachment, name: string) => {
    const r = inCt(h, a, ['busybox', 'nslookup', name, DNS]);
    return r.status === 0 ? /Address: (\d+\.\d+\.\d+\.\d+)\s*$/m.exec(r.stdout)?.[1] : undefined;
  };
  const rejection = async (p: Promise<unknown>): Promise<CniCallFailed> => {
    try {
      await p;
    } catch (err) {
      if (err instanceof CniCallFailed) return err;
      throw err;
    }
    throw new Error('the call succeeded; expected a CNI error');
  };

  t.test('VERSION lists exactly 0.3.1 to 1.1.0, answers in the version asked; others are error 1', async (t) => {
    const rt = runtime(h1, '1.0.0');
    for (const v of VERSIONS) {
      const e = await rt.version('vxnet', v);
      t.equal(e.code, 0, `VERSION ${v}`);
      t.same(e.json, { cniVersion: v, supportedVersions: VERSIONS }, `VERSION ${v} answer`);
    }
    for (const v of ['0.2.0', '0.3.0', '2.0.0']) {
      const e = await rt.raw({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'x1', CNI_NETNS: '/run/netns/none', CNI_IFNAME: 'eth0' }, JSON.stringify({ cniVersion: v, name: 'net1', type: 'vxnet' }));
      t.equal(e.code, 1, `ADD with ${v} exits 1`);
      t.equal(e.json?.code, 1, `ADD with ${v}: error code 1`);
      t.match(String(e.json?.msg), /incompatible CNI version/);
    }
  });

  for (const v of VERSIONS) {
    t.test(`cniVersion ${v}: ADD on two hosts, names and addresses across hosts, CHECK, second ADD, DEL in reverse`, async (t) => {
      const r1 = runtime(h1, v);
      const r2 = runtime(h2, v);
      const tag = `v${v.replace(/\./g, '')}`;
      const a = { ...sandbox(h1, tag), args: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: `pod-a-${tag}` } };
      const b = { ...sandbox(h2, tag), capabilityArgs: { aliases: { net1: [`b-${tag}`, `bee-${tag}`] } } };
      const ra = await r1.add(a);
      const rb = await r2.add(b);
      for (const [res, att] of [[ra, a], [rb, b]] as const) {
        t.equal(res.cniVersion, v, 'the result is in the version asked');
        const ifs = res.interfaces as Array<Record<string, unknown>>;
        const ips = res.ips as Array<Record<string, unknown>>;
        const routes = res.routes as Array<Record<string, unknown>>;
        t.match(ifs, [{ name: 'eth0', mac: /^02:42:/, sandbox: att.netns }], 'interfaces: eth0 in the sandbox');
        t.equal(ips.length, 1);
        t.match(ips[0], { address: /^10\.\d+\.\d+\.\d+\/\d+$/, gateway: /^10\./, interface: 0 }, 'ips: address, gateway, interface index');
        t.equal('version' in (ips[0] as object), v === '0.3.1' || v === '0.4.0', 'ips[].version only before 1.0.0');
        t.equal('mtu' in (ifs[0] as object), v === '1.1.0', 'interface mtu only from 1.1.0');
        t.ok(routes.length > 0 && routes.every((r) => typeof r.gw === 'string' && typeof r.dst === 'string'), 'every route has dst and gw');
        t.same(res.dns, { nameservers: [DNS] }, "dns: vxnet's server");
      }
      const ipA = String((ra.ips as Array<{ address: string }>)[0]?.address).split('/')[0] as string;
      const ipB = String((rb.ips as Array<{ address: string }>)[0]?.address).split('/')[0] as string;
      t.not(ipA.split('.').slice(0, 3).join('.'), ipB.split('.').slice(0, 3).join('.'), "each host's address comes from its own subnet");
      t.ok((await until(() => pings(h2, b, ipA), 5000, 100)).value, 'b (h2) pings a (h1) by address');
      t.equal((await until(() => resolves(h2, b, `pod-a-${tag}`), 3000, 100)).value, ipA, 'b resolves a by K8S_POD_NAME');
      t.equal(resolves(h1, a, `bee-${tag}`), ipB, 'a resolves b by an alias from the aliases capability');
      t.ok(pings(h1, a, ipB), 'a pings b');

      if (v !== '0.3.1') {
        await r1.check(a);
        t.pass('CHECK passes right after ADD');
      } else {
        const e = await rejection(r1.check(a));
        t.equal(e.code, 1, 'CHECK is refused with 0.3.1 (error 1)');
      }
      const again = await rejection(r1.add({ ...a }));
      t.equal(again.code, 100, 'a second ADD for the same container and interface fails (100)');
      t.match(again.msg, /already has interface eth0/);

      await r1.del(a);
      await r1.del(a);
      await r2.del(b);
      t.pass('DEL in reverse through the chain, twice');
      t.notOk((await agentEndpoints(h1)).some((e) => e.container === a.containerId), 'the endpoint is gone from the agent');
      t.equal(resolves(h2, b, `pod-a-${tag}`), undefined, 'the name is gone');
      // the address is free again: the next container gets it
      const c = { ...sandbox(h1, tag), args: { K8S_POD_NAME: `pod-c-${tag}` } };
      const rc = await r1.add(c);
      t.equal(String((rc.ips as Array<{ address: string }>)[0]?.address).split('/')[0], ipA, 'the freed address is given again');
      await r1.del(c);
    });
  }

  t.test('CHECK fails when the kernel no longer matches the previous result', async (t) => {
    const rt = runtime(h1, '1.0.0', 'net1', false);
    const a = sandbox(h1, 'chk');
    await rt.add(a);
    await rt.check(a);
    onHost(h1, ['ip', '-n', a.netns.split('/').pop() as string, 'addr', 'flush', 'dev', 'eth0']);
    const noAddr = await rejection(rt.check(a));
    t.equal(noAddr.code, 103, 'address removed: CHECK fails (103)');
    t.match(noAddr.msg, /does not have 10\./);
    const missing = await rejection(rt.check(a, null));
    t.equal(missing.code, 7, 'CHECK without prevResult fails (7)');
    onHost(h1, ['ip', '-n', a.netns.split('/').pop() as string, 'link', 'del', 'eth0']);
    const noLink = await rejection(rt.check(a));
    t.match(noLink.msg, /eth0 is missing/, 'veth removed: CHECK says the interface is missing');
    await rt.del(a);
  });

  t.test('DEL frees the address with the namespace gone and no prevResult; the agent frees endpoints whose namespace vanished', async (t) => {
    const rt = runtime(h1, '1.0.0', 'net1', false);
    const a = sandbox(h1, 'gone');
    const ra = await rt.add(a);
    const ip = String((ra.ips as Array<{ address: string }>)[0]?.address).split('/')[0];
    onHost(h1, ['ip', 'netns', 'del', a.netns.split('/').pop() as string]);
    await rt.del({ containerId: a.containerId, ifname: 'eth0' }, { noPrevResult: true });
    t.notOk((await agentEndpoints(h1)).some((e) => e.container === a.containerId), 'DEL with no netns and no prevResult removed the endpoint');
    const b = sandbox(h1, 'gone');
    const rb = await rt.add(b);
    t.equal(String((rb.ips as Array<{ address: string }>)[0]?.address).split('/')[0], ip, 'and its address is given again');

    // no DEL at all: the agent's sandbox check (every 5 s) frees it
    onHost(h1, ['ip', 'netns', 'del', b.netns.split('/').pop() as string]);
    const freed = await until(async () => !(await agentEndpoints(h1)).some((e) => e.container === b.containerId), 12_000, 250);
    t.ok(freed.value, `the agent removed the endpoint whose namespace vanished without DEL (after ${freed.ms} ms)`);
    const c = sandbox(h1, 'gone');
    const rc = await rt.add(c);
    t.equal(String((rc.ips as Array<{ address: string }>)[0]?.address).split('/')[0], ip, 'its address is free again');
    await rt.del(c);
  });

  t.test('GC frees every CNI endpoint of the network not in the valid list, and nothing else', async (t) => {
    const r1 = runtime(h1, '1.1.0', 'net1', false);
    const r2net = runtime(h1, '1.1.0', 'net2', false);
    const keep = sandbox(h1, 'gc');
    const drop = sandbox(h1, 'gc');
    const other = sandbox(h1, 'gc');
    await r1.add(keep);
    await r1.add(drop);
    await r2net.add(other);
    const engine = JSON.parse(await ok(['-H', 'h1', 'inspect', '--json', (await ok(['-H', 'h1', 'run', '-d', '--name', 'gc-engine', '--net', 'net1', 'busybox', 'sleep', '600'])).trim()])) as { id: string };
    await r1.gc([{ containerID: keep.containerId, ifname: 'eth0' }]);
    const eps = await agentEndpoints(h1);
    t.ok(eps.some((e) => e.container === keep.containerId), 'the valid attachment stays');
    t.notOk(eps.some((e) => e.container === drop.containerId), 'the one not listed is freed');
    t.ok(eps.some((e) => e.container === other.containerId), "another network's CNI endpoint stays");
    t.ok(eps.some((e) => e.container === engine.id && e.owner !== 'cni'), "the engine's endpoint stays");
    await r1.gc([]);
    const after = await agentEndpoints(h1);
    t.notOk(after.some((e) => e.owner === 'cni' && e.networkName === 'net1'), 'GC with an empty list frees every CNI endpoint of net1 here');
    t.ok(after.some((e) => e.container === other.containerId), 'net2 untouched');
    await r2net.del(other);
    await ok(['-H', 'h1', 'rm', '-f', 'gc-engine']);
  });

  t.test('bad input: one clear error with the spec code each, nothing left behind', async (t) => {
    const rt = runtime(h1, '1.0.0', 'net1', false);
    const conf = (over: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'vxnet', network: 'net1', ...over });
    const a = sandbox(h1, 'bad');
    const base = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: a.containerId, CNI_NETNS: a.netns, CNI_IFNAME: 'eth0', CNI_PATH: binDir(h1) };
    const cases: Array<[string, Record<string, string>, string, number, RegExp]> = [
      ['no CNI_NETNS', { ...base, CNI_NETNS: '' }, conf(), 4, /CNI_NETNS is not set/],
      ['no CNI_COMMAND', { ...base, CNI_COMMAND: '' }, conf(), 4, /CNI_COMMAND is not set/],
      ['stdin not JSON', base, '{"cniVersion":', 6, /cannot decode/],
      ['unknown network', base, conf({ network: 'nosuchnet' }), 7, /network "nosuchnet" does not exist in vxnet/],
      ['unknown CNI_ARGS key', { ...base, CNI_ARGS: 'FOO=bar' }, conf(), 2, /unknown CNI_ARGS key "FOO"/],
      ['a netns path that is not a namespace', { ...base, CNI_NETNS: '/etc/hostname' }, conf(), 4, /is not a network namespace/],
      ['a static address outside the lease', base, conf({ runtimeConfig: { ips: ['10.250.0.9/24'] } }), 102, /could not use address 10\.250\.0\.9/],
      ['a bad name', { ...base, CNI_ARGS: 'K8S_POD_NAME=-bad' }, conf(), 7, /invalid container name "-bad"/],
      ['CNI_ARGS IP outside the lease', { ...base, CNI_ARGS: 'IP=10.250.0.9' }, conf(), 102, /could not use address 10\.250\.0\.9/],
      ['CNI_ARGS IP not an address', { ...base, CNI_ARGS: 'IP=10.250.0.9,10.250.0.10' }, conf(), 4, /is not one IPv4 address/],
      ['two different static addresses', { ...base, CNI_ARGS: 'IP=10.250.0.9' }, conf({ runtimeConfig: { ips: ['10.250.0.8/24'] } }), 7, /two different static addresses/],
    ];
    for (const [what, envv, stdin, code, msg] of cases) {
      const e = await rt.raw(envv, stdin);
      t.equal(e.code, 1, `${what}: exit 1`);
      t.equal(e.json?.code, code, `${what}: code ${code}`);
      t.match(String(e.json?.msg), msg, `${what}: ${String(e.json?.msg)}`);
    }
    t.notOk((await agentEndpoints(h1)).some((e) => e.container === a.containerId), 'no endpoint was made by any of them');
    t.same(tryOnHost(h1, ['ip', '-n', a.netns.split('/').pop() as string, '-o', 'link', 'show', 'eth0']).stdout, '', 'no eth0 in the sandbox');

    // static address inside the lease (the ips capability), and a name taken on the network
    const first = await rt.add({ ...a, args: { K8S_POD_NAME: 'static-one' } });
    const ip = String((first.ips as Array<{ address: string }>)[0]?.address).split('/')[0] as string;
    await rt.del(a);
    const want = ip.replace(/\.\d+$/, '.77');
    const st = await rt.add({ ...a, args: { K8S_POD_NAME: 'static-one' }, capabilityArgs: { ips: [`${want}/24`] } });
    t.equal(String((st.ips as Array<{ address: string }>)[0]?.address).split('/')[0], want, 'the ips capability gives the static address asked for');
    await rt.del(a);
    const viaArgs = ip.replace(/\.\d+$/, '.78');
    const st2 = await rt.add({ ...a, args: { K8S_POD_NAME: 'static-one', IP: viaArgs } });
    t.equal(String((st2.ips as Array<{ address: string }>)[0]?.address).split('/')[0], viaArgs, 'so does CNI_ARGS IP= (podman --ip)');
    const b = sandbox(h2, 'bad');
    const taken = await rejection(runtime(h2, '1.0.0', 'net1', false).add({ ...b, args: { K8S_POD_NAME: 'static-one' } }));
    t.equal(taken.code, 101, 'a name taken on the network (on another host) is refused (101)');
    t.match(taken.msg, /the name is taken by container .* on h1/);
    await rt.del(a);
  });

  t.test('20 parallel ADDs on one host all succeed with distinct addresses; 20 parallel DELs free them', async (t) => {
    const rt = runtime(h2, '1.0.0', 'net1', false);
    const atts = Array.from({ length: 20 }, (_, i) => ({ ...sandbox(h2, 'par'), args: { K8S_POD_NAME: `par-${i}` } }));
    const results = await Promise.all(atts.map((a) => rt.add(a)));
    const ips = results.map((r) => String((r.ips as Array<{ address: string }>)[0]?.address));
    t.equal(new Set(ips).size, 20, `20 distinct addresses (${ips.slice(0, 3).join(', ')}, …)`);
    await Promise.all(atts.map((a) => rt.del(a)));
    t.notOk((await agentEndpoints(h2)).some((e) => e.name.startsWith('par-')), 'all freed');
    t.ok(rt.execs.length >= 40 && rt.execs.every((e) => e.stdout === '' || e.stdout.trim().split('\n').length === 1), 'stdout held at most one line of JSON per call (the harness parsed each)');
  });

  t.test('agent down: STATUS 50, ADD fails within 2 s with code 11 naming the agent; back up: ADD works', async (t) => {
    const rt = runtime(h1, '1.1.0', 'net1', false);
    await rt.status();
    t.pass('STATUS exits 0 with the agent up');
    const unknownNet = await rejection(runtime(h1, '1.1.0', 'nosuchnet', false).status());
    t.equal(unknownNet.code, 50, 'STATUS of a network vxnet does not have: 50');
    await ok(['lab', 'kill', '--name', lab, '-s', 'KILL', 'h1', 'agent']);
    const st = await rejection(rt.status());
    t.equal(st.code, 50, 'STATUS with the agent down: 50');
    const a = { ...sandbox(h1, 'down'), args: { K8S_POD_NAME: 'while-down' } };
    const t0 = Date.now();
    const add = await rejection(rt.add(a));
    const ms = Date.now() - t0;
    t.equal(add.code, 11, 'ADD: code 11 (try again later)');
    t.match(add.msg, /vxnet agent on this host is not answering on \/run\/vxnet\/agent\.sock/, `the message names the agent: ${add.msg}`);
    t.ok(ms < 2000, `ADD failed in ${ms} ms (< 2 s)`);
    await ok(['lab', 'restart', '--name', lab, 'h1', 'agent']);
    const back = await until(async () => {
      try {
        await rt.status();
        return true;
      } catch {
        return false;
      }
    }, 15_000, 200);
    t.ok(back.value, 'STATUS 0 again once the agent is back');
    const res = await rt.add(a);
    t.match(res.ips, [{ address: /^10\./ }], 'ADD works again');
    await rt.del(a);
  });

  t.test('no CNI work leaves anything: every test endpoint is gone from the agents and the store', async (t) => {
    for (const h of [h1, h2]) {
      const left = (await agentEndpoints(h)).filter((e) => e.owner === 'cni');
      t.same(left.map((e) => e.name), [], `no CNI endpoint left on ${h.name}`);
    }
    const net = JSON.parse(await ok(['net', 'inspect', '--json', 'net1'])) as { hosts: Array<{ host: string; endpoints: Array<{ name: string }> }> };
    t.ok(net.hosts.length > 0, 'net1 has hosts');
    t.same(net.hosts.flatMap((h) => h.endpoints.map((e) => e.name)), [], 'no endpoint of net1 in the store');
  });
}
