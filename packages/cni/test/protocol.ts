/**
 * The CNI protocol module and the executable's logic without a runtime: parsing
 * (environment, CNI_ARGS, configuration), results per version, errors, the agent
 * unreachable (code 11 at once, 50 for STATUS), a fake agent on a real unix socket
 * (what the executable sends, what it prints), and `cni install`'s files. The real
 * thing (agent, kernel, runtimes) is in test/cni.ts and test/podman.ts.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CNI_VERSIONS, CniCode, CniError, formatResult, installCni, parseCall, parseCniArgs, readPrevResult, runPlugin, versionAnswer, type CniResult,
} from '../src/index.js';

const conf = (over: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'net1', type: 'vxnet', network: 'net1', ...over });
const addEnv = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0' };

function codeOf(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CniError ? err.code : -1;
  }
  return undefined;
}

t.test('parseCall: what each command needs, the versions, the configuration', async (t) => {
  const call = parseCall({ ...addEnv, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web;FOO=bar' }, conf({ capabilities: { aliases: true }, extra: 1 }));
  t.match(call, { command: 'ADD', containerId: 'abc123', netns: '/run/netns/x', ifname: 'eth0', args: { K8S_POD_NAME: 'web', FOO: 'bar' }, config: { network: 'net1', name: 'net1' } });
  t.equal(parseCall({ ...addEnv }, JSON.stringify({ cniVersion: '0.4.0', name: 'n2', type: 'vxnet' })).config.network, 'n2', 'network defaults to the configuration name');
  t.equal(parseCall({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0' }, conf()).netns, undefined, 'DEL needs no CNI_NETNS');
  t.equal(parseCall({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0' })).command, 'STATUS');
  t.equal(parseCall({ CNI_COMMAND: 'VERSION', CNI_NETNS: 'dummy' }, conf()).command, 'VERSION', "variables a command does not use are not checked (podman's VERSION sends CNI_NETNS=dummy)");
  t.equal(parseCall({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'abc', CNI_IFNAME: 'eth0', CNI_NETNS: 'gone' }, conf()).netns, undefined, 'DEL does not read CNI_NETNS');
  const cases: Array<[string, Record<string, string>, string, number]> = [
    ['no command', { ...addEnv, CNI_COMMAND: '' }, conf(), CniCode.InvalidEnvironment],
    ['unknown command', { ...addEnv, CNI_COMMAND: 'FROB' }, conf(), CniCode.InvalidEnvironment],
    ['ADD without CNI_NETNS', { ...addEnv, CNI_NETNS: '' }, conf(), CniCode.InvalidEnvironment],
    ['CHECK without CNI_IFNAME', { ...addEnv, CNI_COMMAND: 'CHECK', CNI_IFNAME: '' }, conf(), CniCode.InvalidEnvironment],
    ['relative netns', { ...addEnv, CNI_NETNS: 'run/netns/x' }, conf(), CniCode.InvalidEnvironment],
    ['ifname too long', { ...addEnv, CNI_IFNAME: 'a-very-long-ifname' }, conf(), CniCode.InvalidEnvironment],
    ['container id with a slash', { ...addEnv, CNI_CONTAINERID: '../x' }, conf(), CniCode.InvalidEnvironment],
    ['stdin not JSON', addEnv, '{', CniCode.DecodeFailure],
    ['stdin an array', addEnv, '[]', CniCode.DecodeFailure],
    ['version 0.2.0', addEnv, conf({ cniVersion: '0.2.0' }), CniCode.IncompatibleVersion],
    ['version missing', addEnv, JSON.stringify({ name: 'n', type: 'vxnet' }), CniCode.IncompatibleVersion],
    ['no name', addEnv, JSON.stringify({ cniVersion: '1.0.0', type: 'vxnet' }), CniCode.InvalidConfig],
    ['network not a string', addEnv, conf({ network: 5 }), CniCode.InvalidConfig],
    ['relative agentSocket', addEnv, conf({ agentSocket: 'x.sock' }), CniCode.InvalidConfig],
    ['CHECK at 0.3.1', { ...addEnv, CNI_COMMAND: 'CHECK' }, conf({ cniVersion: '0.3.1' }), CniCode.IncompatibleVersion],
    ['bad valid-attachments', { CNI_COMMAND: 'GC' }, conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 1 }] }), CniCode.InvalidConfig],
  ];
  for (const [what, env, stdin, code] of cases) t.equal(codeOf(() => parseCall(env, stdin)), code, what);
});

t.test('CNI_ARGS: K=V pairs; unknown keys refused unless IgnoreUnknown', async (t) => {
  t.same(parseCniArgs('K8S_POD_NAME=a;K8S_POD_NAMESPACE=b'), { K8S_POD_NAME: 'a', K8S_POD_NAMESPACE: 'b' });
  t.same(parseCniArgs(''), {});
  t.same(parseCniArgs('IgnoreUnknown=true;X=1=2'), { IgnoreUnknown: 'true', X: '1=2' }, 'the first = splits');
  t.equal(codeOf(() => parseCniArgs('X=1')), CniCode.UnsupportedField);
  t.equal(codeOf(() => parseCniArgs('novalue')), CniCode.InvalidEnvironment);
});

t.test('results in the version asked; VERSION; prevResult of any version', async (t) => {
  const r: CniResult = {
    interfaces: [{ name: 'eth0', mac: '02:42:0a:00:00:02', mtu: 1450, sandbox: '/run/netns/x' }],
    ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }],
    dns: { nameservers: ['169.254.169.53'] },
  };
  t.same(formatResult(r, '0.3.1').ips, [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }]);
  t.same(formatResult(r, '1.0.0').ips, [{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 }]);
  t.same(formatResult(r, '1.0.0').interfaces, [{ name: 'eth0', mac: '02:42:0a:00:00:02', sandbox: '/run/netns/x' }], 'no mtu before 1.1.0');
  t.same(formatResult(r, '1.1.0').interfaces, [{ name: 'eth0', mac: '02:42:0a:00:00:02', mtu: 1450, sandbox: '/run/netns/x' }]);
  for (const v of CNI_VERSIONS) t.equal(formatResult(r, v).cniVersion, v);
  t.same(versionAnswer('0.4.0'), { cniVersion: '0.4.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] });
  t.same(readPrevResult({ ips: [{ version: '4', address: '10.0.0.2/24' }, { nope: 1 }], interfaces: 'x' }), { interfaces: [], ips: [{ version: '4', address: '10.0.0.2/24' }] });
  t.same(readPrevResult(undefined), { interfaces: [], ips: [] });
});

t.test('runPlugin: VERSION without an agent; agent unreachable is 11 at once (50 for STATUS); only JSON on stdout', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxcni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const v = await runPlugin({ CNI_COMMAND: 'VERSION' }, conf({ cniVersion: '1.1.0' }));
  t.same({ code: v.exitCode, out: JSON.parse(v.stdout) }, { code: 0, out: versionAnswer('1.1.0') });
  const missing = join(dir, 'none.sock');
  const t0 = Date.now();
  const add = await runPlugin(addEnv, conf({ agentSocket: missing }));
  t.ok(Date.now() - t0 < 1000, 'answered at once');
  t.equal(add.exitCode, 1);
  t.match(JSON.parse(add.stdout), { cniVersion: '1.0.0', code: 11, msg: new RegExp(`vxnet agent on this host is not answering on ${missing} \\(the socket does not exist\\)`) });
  const st = await runPlugin({ CNI_COMMAND: 'STATUS' }, conf({ cniVersion: '1.1.0', agentSocket: missing }));
  t.match(JSON.parse(st.stdout), { code: 50 });
  const bad = await runPlugin(addEnv, '{"cniVersion":"9.9.9"}');
  t.match(JSON.parse(bad.stdout), { cniVersion: '1.1.0', code: 1 }, 'an unknown version is answered in the newest one');
});

t.test('runPlugin against an agent on a unix socket: what is sent, what is printed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxcni-'));
  const socket = join(dir, 'agent.sock');
  const seen: Array<{ env: Record<string, string>; stdin: string }> = [];
  let reply: { status: number; body: unknown } = { status: 200, body: { result: { cniVersion: '1.0.0', ips: [] } } };
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => {
      t.equal(`${req.method} ${req.url}`, 'POST /v1/cni');
      seen.push(JSON.parse(body));
      res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  t.teardown(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const stdin = conf({ agentSocket: socket });
  const ok = await runPlugin({ ...addEnv, HOME: '/root', PATH: '/bin' }, stdin);
  t.same({ code: ok.exitCode, out: ok.stdout }, { code: 0, out: '{"cniVersion":"1.0.0","ips":[]}\n' });
  t.same(seen[0], { env: addEnv, stdin }, 'only the CNI_* variables and stdin as read');
  reply = { status: 200, body: {} };
  const del = await runPlugin({ ...addEnv, CNI_COMMAND: 'DEL' }, stdin);
  t.same({ code: del.exitCode, out: del.stdout }, { code: 0, out: '' }, 'DEL prints nothing');
  reply = { status: 400, body: { error: { cniVersion: '1.0.0', code: 101, msg: 'taken' } } };
  const refused = await runPlugin(addEnv, stdin);
  t.same({ code: refused.exitCode, out: JSON.parse(refused.stdout) }, { code: 1, out: { cniVersion: '1.0.0', code: 101, msg: 'taken' } });
  reply = { status: 404, body: { message: 'Route POST:/v1/cni not found' } };
  const old = await runPlugin(addEnv, stdin);
  t.match(JSON.parse(old.stdout), { code: 11, msg: /HTTP 404: it does not serve CNI/ });
});

t.test('cni install: an executable with an absolute interpreter and a conflist; again changes nothing; a foreign conflist is left alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vxcni-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const o = { network: 'net1', dir: join(dir, 'bin'), confDir: join(dir, 'net.d') };
  const r = installCni(o);
  t.match(r, { plugin: join(dir, 'bin', 'vxnet'), conflist: join(dir, 'net.d', '10-vxnet-net1.conflist'), pluginChanged: true, conflistChanged: true });
  t.equal(statSync(r.plugin).mode & 0o777, 0o755);
  t.match(readFileSync(r.plugin, 'utf8'), new RegExp(`^#!/bin/sh\n[^]*\nexec '${process.execPath}' '`), 'sh running this node by absolute path');
  t.same(JSON.parse(readFileSync(r.conflist, 'utf8')), {
    cniVersion: '1.0.0', name: 'net1', plugins: [{ type: 'vxnet', network: 'net1', capabilities: { aliases: true, ips: true } }],
  });
  t.match(installCni(o), { pluginChanged: false, conflistChanged: false });
  // the executable runs with no PATH at all (a runtime's environment)
  const main = fileURLToPath(new URL('../src/main.js', import.meta.url));
  t.ok(readFileSync(r.plugin, 'utf8').includes(main), 'it loads the installed main module');
  // NODE_OPTIONS from the runtime's environment would preload a module that breaks stdout: dropped
  const evil = join(dir, 'evil.cjs');
  writeFileSync(evil, "process.stdout.write('garbage'); process.exit(9);");
  const run = spawnSync(r.plugin, [], { env: { CNI_COMMAND: 'VERSION', NODE_OPTIONS: `--require ${evil}` }, input: '{"cniVersion":"1.0.0"}', encoding: 'utf8' });
  t.same({ status: run.status, out: JSON.parse(run.stdout), err: run.stderr }, { status: 0, out: versionAnswer('1.0.0'), err: '' }, 'runs with no PATH, NODE_OPTIONS dropped');
  const oddNode = join(dir, "it's node $(x)");
  symlinkSync(process.execPath, oddNode);
  const q = installCni({ ...o, dir: join(dir, 'q'), nodePath: oddNode });
  const quoted = spawnSync(q.plugin, [], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"0.4.0"}', encoding: 'utf8' });
  t.same(JSON.parse(quoted.stdout), versionAnswer('0.4.0'), 'an interpreter path with a quote and $() is quoted for sh');
  const foreign = join(dir, 'net.d', '10-vxnet-net2.conflist');
  writeFileSync(foreign, JSON.stringify({ cniVersion: '1.0.0', name: 'net2', plugins: [{ type: 'bridge' }] }));
  chmodSync(foreign, 0o644);
  t.throws(() => installCni({ ...o, network: 'net2' }), /exists and is not vxnet's/);
  t.equal(JSON.parse(readFileSync(foreign, 'utf8')).plugins[0].type, 'bridge', 'left as it was');
});
