/**
 * The topology page in a real browser: Debian's chromium driven by playwright-core
 * (the system browser; nothing downloads one), against a 3-host lab.
 *
 * test-needs: chromium
 *
 * The page's address is on the lab's underlay, so chromium runs in the controller
 * machine's network namespace (a two-line wrapper: nsenter --net=… chromium): its
 * traffic stays inside namespaces this test made, and the closed-network flags keep
 * it from calling anywhere else. The lab's CA is not in chromium's store, so the
 * context ignores certificate errors; the page is still served over TLS.
 *
 * Checks: sign-in through the form (the token never in a URL); every host, network and
 * container of the lab with the right parents; details on click; `run -d` appears and
 * `rm` disappears within 1 s; a controller restart while the page is open loses no
 * change and needs no reload; a killed host greys within liveness TTL + 1 s; zero page
 * errors. Saves a screenshot under test/out/.
 */
import t from 'tap';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';

const CHROMIUM = '/usr/bin/chromium';
/** The flags the machine notes ask for on this closed network (and as root). */
const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const LIVENESS_TTL_MS = 10_000; // the agent's default livenessTtl
const OUT = fileURLToPath(new URL('../out/', import.meta.url));

interface GraphNode { id: string; kind: string; label: string; parent: string | null; dead: boolean }

if (!isRoot) {
  t.plan(0, 'skip: needs root (namespaces, runc)');
} else if (!existsSync(CHROMIUM)) {
  t.plan(0, `skip: ${CHROMIUM} is absent (Debian's chromium; scripts/install-chromium.sh installs it, scripts/test.sh runs that for this file)`);
} else {
  const { chromium } = await import('playwright-core');
  const { home, cleanup } = tempHome('topo');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('topo');
  const scratch = mkdtempSync(join(tmpdir(), 'vxnet-topo-'));
  t.teardown(async () => {
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });
  const setupFailed = setupFailure(lab, env, cleanup);
  const must = async (args: string[], what: string) => {
    const r = await vxnet(args, env, 120_000);
    if (r.code !== 0) await setupFailed(new Error(`${what}: ${r.stderr}`));
    return r.stdout.trim();
  };
  await must(['lab', 'up', '--name', lab, '--hosts', '3'], 'lab up');
  await must(['net', 'create', 'front', '--subnet', '10.61.0.0/16'], 'net create front');
  await must(['net', 'create', 'back', '--subnet', '10.62.0.0/16'], 'net create back');
  await must(['-H', 'h1', 'run', '-d', '--name', 'web', '--net', 'front', '--alias', 'www', 'busybox'], 'run web');
  await must(['-H', 'h2', 'run', '-d', '--name', 'api', '--net', 'front', '--net', 'back', 'busybox'], 'run api');
  await must(['-H', 'h3', 'run', '-d', '--name', 'db', '--net', 'back', 'busybox'], 'run db');
  const ui = JSON.parse(await must(['ui', '--json'], 'vxnet ui')) as { url: string; tokenFile: string; netns: string };

  // chromium in the controller machine's network namespace; the path comes from the environment, not the script text
  const wrapper = join(scratch, 'chromium-in-lab');
  writeFileSync(wrapper, `#!/bin/sh\nexec nsenter "--net=$VXNET_UI_NETNS" -- ${CHROMIUM} "$@"\n`, { mode: 0o755 });
  const browser = await chromium.launch({ executablePath: wrapper, args: CHROMIUM_FLAGS, env: { ...process.env, VXNET_UI_NETNS: `/run/netns/${ui.netns}` } });
  t.teardown(() => browser.close());
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const urls: string[] = [];
  page.on('request', (r) => urls.push(r.url()));

  const nodes = () => page.evaluate(() => (globalThis as unknown as { vxnetGraph: { nodes(): GraphNode[] } }).vxnetGraph.nodes());
  /**
   * ms until `predicate(nodes, arg)` holds for the page's nodes (read every 20 ms), or
   * throws after timeoutMs. Checked here, not in the page: the page's CSP forbids eval,
   * and that is kept.
   */
  const within = async <A>(timeoutMs: number, predicate: (nodes: GraphNode[], arg: A) => boolean, arg: A): Promise<number> => {
    const t0 = Date.now();
    for (;;) {
      if (predicate(await nodes(), arg)) return Date.now() - t0;
      if (Date.now() - t0 > timeoutMs) throw new Error(`not within ${timeoutMs} ms: ${predicate.toString()} (${JSON.stringify(arg)})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const hasLabel = (nodes: GraphNode[], name: string) => nodes.some((n) => n.kind === 'container' && n.label === name);
  const lacksLabel = (nodes: GraphNode[], name: string) => !nodes.some((n) => n.kind === 'container' && n.label === name);

  t.test('sign-in through the form, never a token in a URL', async (t) => {
    await page.goto(ui.url);
    await page.waitForSelector('#login:not([hidden])');
    const token = readFileSync(ui.tokenFile, 'utf8').trim();
    await page.fill('#token', token);
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => (globalThis as unknown as { vxnetGraph: { revision: number | null } }).vxnetGraph.revision !== null);
    t.notOk(urls.some((u) => u.includes(token)), 'no request URL carries the token');
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'vxnet_session');
    t.ok(session?.httpOnly && session.secure && session.sameSite === 'Strict', 'HttpOnly, Secure, SameSite=Strict session cookie');
  });

  t.test('every host, network and container, with the right parents', async (t) => {
    await within(5000, hasLabel, 'db');
    const n = await nodes();
    t.same(n.filter((x) => x.kind === 'host').map((x) => [x.id, x.dead]).sort(), [['host:h1', false], ['host:h2', false], ['host:h3', false]]);
    t.same(n.filter((x) => x.kind === 'network').map((x) => x.label.split('\n')[0]).sort(), ['back', 'front']);
    t.match(n.find((x) => x.kind === 'network' && x.label.startsWith('front'))?.label, /VNI \d+ · 10\.61\.0\.0\/16/);
    const parents = Object.fromEntries(n.filter((x) => x.kind === 'container').map((x) => [x.label, x.parent]));
    t.same(parents, { web: 'host:h1', api: 'host:h2', db: 'host:h3' });
    const edges = await page.evaluate(() => (globalThis as unknown as { vxnetGraph: { edges(): Array<{ kind: string }> } }).vxnetGraph.edges());
    const count = (k: string) => edges.filter((e) => e.kind === k).length;
    t.equal(count('endpoint'), 4, 'web, api twice, db');
    // leases and peerings as the CLI sees them (agents lease when a container joins, or earlier)
    const leases = JSON.parse((await vxnet(['lease', 'ls', '--json'], env)).stdout) as Array<{ network: string; host: string }>;
    t.equal(count('lease'), leases.length, 'one edge per subnet lease');
    const perNet = new Map<string, number>();
    for (const l of leases) perNet.set(l.network, (perNet.get(l.network) ?? 0) + 1);
    t.equal(count('peering'), [...perNet.values()].reduce((a, n) => a + (n * (n - 1)) / 2, 0), 'one peering per pair of hosts on a network');
    t.ok(count('lease') >= 4 && count('peering') >= 2, 'at least h1+h2 on front, h2+h3 on back');

    const web = n.find((x) => x.label === 'web')!;
    await page.evaluate((id) => (globalThis as unknown as { vxnetGraph: { select(id: string): void } }).vxnetGraph.select(id), web.id);
    const details = await page.evaluate(() => (globalThis as unknown as { vxnetGraph: { details(): string } }).vxnetGraph.details());
    t.match(details, /IP\s+10\.61\.\d+\.\d+/);
    t.match(details, /MAC\s+([0-9a-f]{2}:){5}[0-9a-f]{2}/);
    t.match(details, /aliases\s+www/);
    t.match(details, /lease expires\s+\S+T\S+Z \(in \d+ s\)/);

    await page.selectOption('#filter', { label: 'back' });
    const filtered = await nodes();
    t.same(filtered.filter((x) => x.kind === 'container').map((x) => x.label).sort(), ['api', 'db'], 'the filter shows one network');
    await page.selectOption('#filter', { value: '' });
  });

  t.test('run -d appears within 1 s, rm disappears within 1 s', async (t) => {
    const run = await vxnet(['-H', 'h2', 'run', '-d', '--name', 'live', '--net', 'front', 'busybox'], env, 120_000);
    t.equal(run.code, 0, run.stderr);
    const appeared = await within(1000, hasLabel, 'live');
    t.ok(appeared < 1000, `appeared ${appeared} ms after run -d returned`);
    t.equal((await nodes()).find((x) => x.label === 'live')?.parent, 'host:h2');
    const rm = await vxnet(['-H', 'h2', 'rm', '-f', 'live'], env, 120_000);
    t.equal(rm.code, 0, rm.stderr);
    const gone = await within(1000, lacksLabel, 'live');
    t.ok(gone < 1000, `gone ${gone} ms after rm returned`);
  });

  t.test('a controller restart while the page is open loses no change', async (t) => {
    await page.evaluate(() => { (globalThis as unknown as { notReloaded: boolean }).notReloaded = true; });
    const kill = await vxnet(['lab', 'kill', 'controller', '--signal', 'KILL'], env);
    t.equal(kill.code, 0, kill.stderr);
    // changes while no controller runs: agents and engines write the store without it
    const during = await vxnet(['-H', 'h1', 'run', '-d', '--name', 'during', '--net', 'back', 'busybox'], env, 120_000);
    t.equal(during.code, 0, during.stderr);
    const rmApi = await vxnet(['-H', 'h2', 'rm', '-f', 'api'], env, 120_000);
    t.equal(rmApi.code, 0, rmApi.stderr);
    const restart = await vxnet(['lab', 'restart', 'controller'], env, 120_000);
    t.equal(restart.code, 0, restart.stderr);
    const ms = await within(15_000, (nodes) => nodes.some((n) => n.label === 'during') && !nodes.some((n) => n.label === 'api'), null);
    t.comment(`caught up ${ms} ms after lab restart controller returned`);
    t.ok(await page.evaluate(() => (globalThis as unknown as { notReloaded?: boolean }).notReloaded), 'the page was not reloaded');
    // and it is live again
    const after = await vxnet(['-H', 'h3', 'run', '-d', '--name', 'after', '--net', 'back', 'busybox'], env, 120_000);
    t.equal(after.code, 0, after.stderr);
    t.ok(await within(1000, hasLabel, 'after') < 1000, 'live after the restart');
  });

  t.test('a killed host greys within the liveness TTL + 1 s; screenshot', async (t) => {
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: join(OUT, 'topology-page-live.png') });
    const kill = await vxnet(['lab', 'kill', 'h3', 'agent', '--signal', 'KILL'], env);
    t.equal(kill.code, 0, kill.stderr);
    const ms = await within(LIVENESS_TTL_MS + 1000, (nodes) => nodes.some((n) => n.id === 'host:h3' && n.dead), null);
    t.ok(ms <= LIVENESS_TTL_MS + 1000, `h3 greyed ${ms} ms after its agent was killed`);
    await page.screenshot({ path: join(OUT, 'topology-page.png') });
    t.comment(`screenshots: ${join(OUT, 'topology-page.png')}, topology-page-live.png`);
    t.same(pageErrors, [], 'zero page errors');
  });
}
