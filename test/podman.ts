/**
 * vxnet's CNI plugin under a real runtime (issue 12): Debian's podman 4.3.1 on its CNI
 * backend, in a 2-host lab (`vxnet lab up --podman`: each host its own podman, CNI
 * directories and storage), the image imported from a tarball. The plugin and the
 * conflists are installed on each host with `vxnet cni install`, as a user would.
 *
 * busybox `ping` needs CAP_NET_RAW, which Debian's containers.conf leaves out of
 * podman's default capabilities: the containers that ping get `--cap-add NET_RAW`, as
 * on a real host.
 *
 * test-needs: podman (scripts/test.sh installs Debian's podman and containernetworking-plugins)
 */
import t from 'tap';
import { request } from 'node:http';
import type { LocalEndpoint } from '@vxnet/common/api';
import { VXNET_BIN, isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { labHost, readLab, type HostJson, type LabJson } from './helpers/lab.js';
import { podman, podmanMissing } from './helpers/podman.js';
import { until } from './helpers/wait.js';

const IMAGE = 'localhost/vxnet-busybox:latest';

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

const missing = podmanMissing();
if (!isRoot) {
  t.plan(0, 'skip: lab tests need root (network namespaces)');
} else if (missing) {
  t.plan(0, `skip: ${missing}`);
} else {
  const { home, cleanup } = tempHome('podcni');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('pc');
  const fail = setupFailure(lab, env, cleanup);
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--podman', '--underlay', '192.0.2.0/24'], env, 120_000).catch(fail);
  if (up.code !== 0) await fail(new Error(`lab up --podman failed: ${up.stderr}`));
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env, 120_000);
    cleanup();
  });
  const state: LabJson = readLab(home, lab);
  const h1 = labHost(state, 'h1');
  const h2 = labHost(state, 'h2');
  const ok = async (args: string[]) => {
    const r = await vxnet(args, env);
    if (r.code !== 0) throw new Error(`vxnet ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
    return r.stdout;
  };
  const pm = (h: HostJson, args: string[], timeoutMs?: number) => podman(h, args, timeoutMs ? { timeoutMs } : {});
  const pmOk = async (h: HostJson, args: string[]) => {
    const r = await pm(h, args);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} on ${h.name}: exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  };
  const run = (h: HostJson, name: string, network: string, extra: string[] = []) =>
    pmOk(h, ['run', '-d', '--network', network, '--cap-add', 'NET_RAW', '--name', name, ...extra, IMAGE, 'sleep', '3600']);
  const ipOf = async (h: HostJson, c: string) => pmOk(h, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', c]);
  const pings = async (h: HostJson, c: string, target: string) => (await pm(h, ['exec', c, 'ping', '-c1', '-W1', target], 15_000)).code === 0;

  for (const n of ['net1', 'net2']) await ok(['net', 'create', n]);
  // what a user types on each host: one command per network
  for (const h of [h1, h2]) {
    for (const n of ['net1', 'net2']) await ok(['lab', 'exec', '--name', lab, h.name, '--', process.execPath, VXNET_BIN, '--lab', lab, 'cni', 'install', n]);
  }

  // every await comes before the first t.test: tap ends the file (and runs the teardown) once its queue runs dry
  await run(h1, 'c1', 'net1', ['--network-alias', 'web']);
  await run(h2, 'c2', 'net1');
  const c1ip = await ipOf(h1, 'c1');
  const c2ip = await ipOf(h2, 'c2');

  t.test('podman sees the vxnet networks: the conflists vxnet cni install wrote, the plugin answering VERSION', async (t) => {
    const ls = JSON.parse(await pmOk(h1, ['network', 'ls', '--format', 'json'])) as Array<{ name: string; driver: string }>;
    t.match(ls.find((n) => n.name === 'net1'), { name: 'net1', driver: 'vxnet' }, 'podman network ls lists net1 with driver vxnet');
    t.match(ls.find((n) => n.name === 'net2'), { name: 'net2', driver: 'vxnet' });
  });

  t.test('podman run on h1 and h2: addresses from each host\'s lease, ping by name and by IP across hosts', async (t) => {
    const leases = JSON.parse(await ok(['lease', 'ls', '--json', '--net', 'net1'])) as Array<{ host: string; subnet: string }>;
    const prefix = (s: string) => s.split('.').slice(0, 3).join('.');
    t.equal(prefix(c1ip), prefix(leases.find((l) => l.host === 'h1')?.subnet ?? ''), `c1 ${c1ip} is in h1's lease`);
    t.equal(prefix(c2ip), prefix(leases.find((l) => l.host === 'h2')?.subnet ?? ''), `c2 ${c2ip} is in h2's lease`);
    t.ok((await until(() => pings(h2, 'c2', c1ip), 10_000, 200)).value, `podman exec c2 ping -c1 ${c1ip}`);
    t.ok((await until(() => pings(h2, 'c2', 'c1'), 10_000, 200)).value, 'podman exec c2 ping -c1 c1 (by name, across hosts)');
    t.ok(await pings(h2, 'c2', 'web'), 'and by its --network-alias');
    t.ok(await pings(h1, 'c1', 'c2'), 'and back: c1 pings c2 by name');
    const resolv = await pmOk(h2, ['exec', 'c2', 'cat', '/etc/resolv.conf']);
    t.match(resolv.split('\n').find((l) => l.startsWith('nameserver')), /^nameserver 169\.254\.169\.53$/, "podman wrote vxnet's DNS server (the CNI result's dns) first into resolv.conf");
  });

  t.test('a vxnet engine container on h2 and the podman containers reach each other by name', async (t) => {
    await ok(['-H', 'h2', 'run', '-d', '--name', 'e2', '--net', 'net1', 'busybox', 'sleep', '3600']);
    t.ok((await until(async () => (await vxnet(['-H', 'h2', 'exec', 'e2', 'ping', '-c1', '-W1', 'c1'], env)).code === 0, 10_000, 200)).value, 'engine e2@h2 pings podman c1@h1 by name');
    t.ok((await until(() => pings(h1, 'c1', 'e2'), 10_000, 200)).value, 'podman c1@h1 pings engine e2@h2 by name');
    await ok(['-H', 'h2', 'rm', '-f', 'e2']);
  });

  t.test('a container on another vxnet network neither resolves nor reaches c1', async (t) => {
    await run(h2, 'x2', 'net2');
    const ns = await pm(h2, ['exec', 'x2', 'nslookup', 'c1'], 15_000);
    t.notMatch(ns.stdout, new RegExp(c1ip.replace(/\./g, '\\.')), `x2 (net2) does not resolve c1: ${ns.stdout.trim().split('\n').at(-1)}`);
    t.notOk(await pings(h2, 'x2', c1ip), `x2 does not reach c1 at ${c1ip}`);
    await pmOk(h2, ['rm', '-f', '-t', '0', 'x2']);
  });

  t.test('podman rm -f frees the address and the name: a new container gets the address back', async (t) => {
    const id = await pmOk(h1, ['inspect', '-f', '{{.Id}}', 'c1']);
    await pmOk(h1, ['rm', '-f', '-t', '0', 'c1']);
    t.notOk((await agentEndpoints(h1)).some((e) => e.container === id), 'the endpoint is gone from h1\'s agent');
    t.ok((await until(async () => !(await pings(h2, 'c2', 'c1')), 5000, 200)).value, 'c1 no longer resolves on h2');
    await run(h1, 'c1b', 'net1');
    t.equal(await ipOf(h1, 'c1b'), c1ip, `the next container gets ${c1ip} again`);
    t.ok((await until(() => pings(h2, 'c2', 'c1b'), 10_000, 200)).value, 'and answers by name');
    await pmOk(h1, ['rm', '-f', '-t', '0', 'c1b']);
  });

  t.test('podman run --ip: inside the host\'s lease works, outside is refused with the reason', async (t) => {
    const lease = (JSON.parse(await ok(['lease', 'ls', '--json', '--net', 'net1', '--host', 'h1'])) as Array<{ subnet: string }>)[0]?.subnet ?? '';
    const inside = lease.replace(/\.0\/\d+$/, '.77');
    await run(h1, 'fixed', 'net1', ['--ip', inside]);
    t.equal(await ipOf(h1, 'fixed'), inside, `--ip ${inside} (h1's lease ${lease})`);
    await pmOk(h1, ['rm', '-f', '-t', '0', 'fixed']);
    const r = await pm(h1, ['run', '-d', '--network', 'net1', '--ip', c2ip, '--name', 'badip', IMAGE, 'sleep', '3600']);
    t.not(r.code, 0, `--ip ${c2ip} (h2's lease) on h1 is refused`);
    t.match(r.stderr, new RegExp(`could not use address ${c2ip.replace(/\./g, '\\.')} on network "net1"`), `the error says why: ${r.stderr.trim().split('\n').at(-1)}`);
    await pm(h1, ['rm', '-f', '-t', '0', 'badip']);
    t.notOk((await agentEndpoints(h1)).some((e) => e.name === 'badip'), 'nothing left of it in the agent');
  });

  t.test('agent down: the next podman run fails fast naming the agent; after a restart it works again', async (t) => {
    await ok(['lab', 'kill', '--name', lab, '-s', 'KILL', 'h1', 'agent']);
    const t0 = Date.now();
    const r = await pm(h1, ['run', '-d', '--network', 'net1', '--name', 'during', IMAGE, 'sleep', '3600'], 30_000);
    const ms = Date.now() - t0;
    t.not(r.code, 0, 'podman run fails');
    t.match(r.stderr, /vxnet agent on this host is not answering on \/run\/vxnet\/agent\.sock/, `the error names the agent: ${r.stderr.trim().split('\n').at(-1)}`);
    t.ok(ms < 5000, `it failed in ${ms} ms (podman's own work included)`);
    await pm(h1, ['rm', '-f', '-t', '0', 'during']);
    await ok(['lab', 'restart', '--name', lab, 'h1', 'agent']);
    const back = await until(async () => {
      const again = await pm(h1, ['run', '-d', '--network', 'net1', '--cap-add', 'NET_RAW', '--name', 'after', IMAGE, 'sleep', '3600'], 30_000);
      if (again.code !== 0) await pm(h1, ['rm', '-f', '-t', '0', 'after']);
      return again.code === 0;
    }, 20_000, 500);
    t.ok(back.value, 'podman run works again once the agent is back');
    t.ok((await until(() => pings(h2, 'c2', 'after'), 10_000, 200)).value, 'and the new container answers by name on h2');
    await pmOk(h1, ['rm', '-f', '-t', '0', 'after']);
  });

  t.test('nothing of the CNI containers is left in the agents once they are removed', async (t) => {
    await pmOk(h2, ['rm', '-f', '-t', '0', 'c2']);
    for (const h of [h1, h2]) t.same((await agentEndpoints(h)).filter((e) => e.owner === 'cni').map((e) => e.name), [], `no CNI endpoint on ${h.name}`);
  });
}
