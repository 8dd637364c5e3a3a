/**
 * Metrics end to end (issue 14), in a 3-host lab after the demo's steps:
 * - every listed series exists on the controller, every agent and every engine;
 * - sum(vxnet_agent_peers{network="net1"}) = H·(H−1) for the H hosts on net1;
 * - the lease gauges equal `vxnet lease ls --json`;
 * - `promtool check metrics` says nothing about any vxnet_ series;
 * - a real Prometheus, started here in the lab's controller namespace with a 1 s
 *   scrape, has every agent, engine and the controller (HTTPS, client certificate,
 *   bearer token file) up within 15 s; after h3's agent is killed, h3 drops out of
 *   h1's and h2's peers within liveness TTL + 1 s + two scrapes.
 *
 * test-needs: prometheus
 */
import t from 'tap';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { until } from './helpers/wait.js';

/** The agent's default liveness TTL, seconds (the lab does not change it). */
const LIVENESS_TTL = 10;
const SCRAPE_SECONDS = 1;

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v "$0"', cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** GET `path` on a daemon's unix socket, as text. */
function getText(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `name{labels}` -> value of an exposition (comments left out). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

/** Metric family names declared by `# TYPE` lines. */
function families(text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2] ?? ''));
}

const EXPECTED = {
  agent: [
    'vxnet_build_info', 'vxnet_agent_peers', 'vxnet_agent_endpoints', 'vxnet_agent_hosts_alive', 'vxnet_agent_subnet_lease_expiry_timestamp_seconds',
    'vxnet_agent_subnet_lease_renewals_total', 'vxnet_agent_dataplane_apply_seconds', 'vxnet_agent_dataplane_failures_total', 'vxnet_agent_reconcile_fixes_total',
    'vxnet_agent_store_up', 'vxnet_agent_store_watch_events_total', 'vxnet_agent_store_watch_resyncs_total', 'vxnet_agent_dns_queries_total',
    'vxnet_agent_dns_upstream_failures_total', 'vxnet_agent_dns_records', 'vxnet_agent_http_request_duration_seconds',
  ],
  engine: ['vxnet_build_info', 'vxnet_engine_containers', 'vxnet_engine_container_start_seconds', 'vxnet_engine_container_start_failures_total', 'vxnet_engine_http_request_duration_seconds'],
  controller: ['vxnet_build_info', 'vxnet_controller_networks', 'vxnet_controller_pool_addresses', 'vxnet_controller_hosts_alive', 'vxnet_controller_store_up', 'vxnet_controller_http_request_duration_seconds'],
};

interface HostStatus { name: string; agentSocket: string; engineSocket: string; metrics: { agent: string; engine: string } }
interface LabStatus {
  netnsPrefix?: string;
  hosts: HostStatus[];
  controller: { url: string; tcpUrl: string; tokenFile: string; netns: string };
  tls: { ca: string; cert: string; key: string } | null;
}

if (!isRoot) {
  t.plan(0, 'skip: lab tests need root (network namespaces)');
} else if (!which('prometheus') || !which('promtool')) {
  t.plan(0, 'skip: Debian prometheus (prometheus, promtool) is not installed: bash scripts/install-prometheus.sh');
} else {
  const { home, cleanup } = tempHome('metrics');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('metrics');
  const failed = setupFailure(lab, env, cleanup);
  const ok = async (args: string[]) => {
    const r = await vxnet(args, env, 120_000);
    if (r.code !== 0) throw new Error(`vxnet ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  let status: LabStatus;
  try {
    await ok(['lab', 'up', '--name', lab, '--hosts', '3']);
    // the demo's steps (scripts/demo.sh), and a container on h3 so that all three hosts are on net1
    await ok(['net', 'create', '-d', 'overlay', 'net1']);
    await ok(['-H', 'h1', 'run', '-d', '--name', 'web', '--net', 'net1', 'busybox']);
    await ok(['-H', 'h2', 'run', '-d', '--name', 'app', '--net', 'net1', 'busybox']);
    await ok(['-H', 'h3', 'run', '-d', '--name', 'db', '--net', 'net1', 'busybox']);
    await ok(['-H', 'h2', 'exec', 'app', 'ping', '-c1', '-W2', 'web']);
    await ok(['-H', 'h2', 'exec', 'app', 'nslookup', 'web']);
    status = JSON.parse(await ok(['lab', 'status', '--json'])) as LabStatus;
  } catch (err) {
    await failed(err);
    throw err;
  }
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });
  const hosts = status.hosts;
  const agentText = (h: HostStatus) => getText(h.agentSocket, '/metrics');
  const controllerSocket = status.controller.url.replace(/^unix:\/\//, '');

  t.test('every listed series is there, on every daemon', async (t) => {
    for (const h of hosts) {
      const a = await agentText(h);
      t.equal(a.status, 200);
      const e = await getText(h.engineSocket, '/metrics');
      t.equal(e.status, 200);
      for (const name of EXPECTED.agent) t.ok(families(a.body).has(name), `agent ${h.name}: ${name}`);
      for (const name of EXPECTED.engine) t.ok(families(e.body).has(name), `engine ${h.name}: ${name}`);
      t.equal(samples(e.body).get('vxnet_engine_containers{state="running"}'), 1, `one container runs on ${h.name}`);
      for (const key of [...samples(a.body).keys(), ...samples(e.body).keys()]) {
        t.notMatch(key, /[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+|[0-9a-f]{64}/, `no address or id as a label value: ${key}`);
      }
    }
    const c = await getText(controllerSocket, '/metrics');
    t.equal(c.status, 200);
    for (const name of EXPECTED.controller) t.ok(families(c.body).has(name), `controller: ${name}`);
    t.equal(samples(c.body).get('vxnet_controller_networks'), 1);
    t.equal(samples(c.body).get('vxnet_controller_hosts_alive'), 3);
    const dns = samples((await agentText(hosts[1]!)).body);
    t.ok((dns.get('vxnet_agent_dns_queries_total{kind="internal",rcode="NOERROR"}') ?? 0) >= 1, "h2's DNS answered app's lookups of web");
  });

  t.test('peers sum to H·(H−1) on net1; lease gauges equal lease ls --json', async (t) => {
    const H = 3;
    let total = 0;
    for (const h of hosts) total += samples((await agentText(h)).body).get('vxnet_agent_peers{network="net1"}') ?? 0;
    t.equal(total, H * (H - 1));
    const leases = JSON.parse(await ok(['lease', 'ls', '--net', 'net1', '--json'])) as Array<{ host: string; expiresAt: string }>;
    t.equal(leases.length, H);
    for (const l of leases) {
      const h = hosts.find((x) => x.name === l.host)!;
      const gauge = samples((await agentText(h)).body).get('vxnet_agent_subnet_lease_expiry_timestamp_seconds{network="net1"}');
      t.equal(gauge, Date.parse(l.expiresAt) / 1000, `lease of ${l.host}`);
    }
  });

  t.test('promtool check metrics says nothing about vxnet_ series', async (t) => {
    const texts = [await getText(controllerSocket, '/metrics'), ...(await Promise.all(hosts.flatMap((h) => [agentText(h), getText(h.engineSocket, '/metrics')])))];
    for (const [i, text] of texts.entries()) {
      const out = await new Promise<string>((resolve) => {
        const p = execFile('promtool', ['check', 'metrics'], (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
        p.stdin?.end(text.body);
      });
      const ours = out.split('\n').filter((l) => l.includes('vxnet_'));
      t.same(ours, [], `exposition ${i}: ${ours.join('; ')}`);
    }
  });

  t.test('a real Prometheus scrapes every daemon; a killed host leaves the peers of the others', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'vxnet-prometheus-'));
    const ctlNetns = status.controller.netns;
    const ctlIp = new URL(status.controller.tcpUrl).hostname;
    const tls = status.tls!;
    const targets = (kind: 'agent' | 'engine') => hosts.map((h) => `'${h.metrics[kind]}'`).join(', ');
    writeFileSync(join(dir, 'prometheus.yml'), [
      'global:',
      `  scrape_interval: ${SCRAPE_SECONDS}s`,
      `  scrape_timeout: ${SCRAPE_SECONDS}s`,
      'scrape_configs:',
      '  - job_name: vxnet-agent',
      `    static_configs: [{ targets: [${targets('agent')}] }]`,
      '  - job_name: vxnet-engine',
      `    static_configs: [{ targets: [${targets('engine')}] }]`,
      '  - job_name: vxnet-controller',
      '    scheme: https',
      `    authorization: { type: Bearer, credentials_file: '${status.controller.tokenFile}' }`,
      `    tls_config: { ca_file: '${tls.ca}', cert_file: '${tls.cert}', key_file: '${tls.key}' }`,
      `    static_configs: [{ targets: ['${ctlIp}:7070'] }]`,
      '',
    ].join('\n'));
    const web = `${ctlIp}:9090`;
    // in the controller's namespace: it reaches every host's underlay address, and nothing outside the lab
    const prom: ChildProcess = spawn('nsenter', [`--net=/run/netns/${ctlNetns}`, 'prometheus', `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${web}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let promLog = '';
    prom.stderr?.on('data', (d: Buffer) => (promLog += d.toString()));
    t.teardown(() => {
      if (prom.pid !== undefined && prom.exitCode === null) process.kill(prom.pid, 'SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    });
    /** An instant query, through busybox wget in the controller's namespace. */
    const query = (q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> => new Promise((resolve) => {
      execFile('nsenter', [`--net=/run/netns/${ctlNetns}`, 'busybox', 'wget', '-q', '-O-', `http://${web}/api/v1/query?query=${encodeURIComponent(q)}`], (err, stdout) => {
        if (err) return resolve([]);
        try {
          resolve((JSON.parse(stdout) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result);
        } catch {
          resolve([]);
        }
      });
    });
    const t0 = Date.now();
    const allUp = await until(async () => {
      const up = await query('up');
      return up.length === 2 * hosts.length + 1 && up.every((r) => r.value[1] === '1') ? up : undefined;
    }, 15_000, 250);
    t.ok(allUp.value, `every target up == 1 within 15 s (${((Date.now() - t0) / 1000).toFixed(1)} s)${allUp.value ? '' : `: ${JSON.stringify(await query('up'))} ${promLog}`}`);
    t.equal(allUp.value?.filter((r) => r.metric.job === 'vxnet-controller').length, 1, 'the controller over HTTPS with the client certificate and the token');
    const peersOf = async (h: string) => Number((await query(`sum(vxnet_agent_peers{network="net1",instance="${hosts.find((x) => x.name === h)!.metrics.agent}"})`))[0]?.value[1] ?? NaN);
    t.ok((await until(async () => (await peersOf('h1')) === 2 && (await peersOf('h2')) === 2, 5000, 250)).value, 'h1 and h2 see two peers each');

    const killed = Date.now();
    await ok(['lab', 'kill', 'h3', 'agent', '--signal', 'KILL']);
    const budgetMs = (LIVENESS_TTL + 1 + 2 * SCRAPE_SECONDS) * 1000;
    const dropped = await until(async () => (await peersOf('h1')) === 1 && (await peersOf('h2')) === 1, budgetMs + 5000, 250);
    const ms = Date.now() - killed;
    t.ok(dropped.value, `h3 gone from h1's and h2's peers in Prometheus after ${(ms / 1000).toFixed(1)} s`);
    t.ok(ms <= budgetMs, `within liveness TTL + 1 s + two scrapes (${budgetMs / 1000} s): ${(ms / 1000).toFixed(1)} s`);
  });
}
