/** `vxnet ui` (src/commands/ui.ts): the lab's page URL on stdout, never the token. */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLabState, type LabState } from '../src/lab/lab-state.js';
import { uiCommand } from '../src/commands/ui.js';

const home = mkdtempSync(join(tmpdir(), 'vxnet-ui-'));
process.env.VXNET_HOME = home;
t.teardown(() => rmSync(home, { recursive: true, force: true }));

const daemon = { config: '', command: [], logFile: '', socket: '', stateDir: '' };
const lab = (name: string, uiUrl?: string): LabState => ({
  name, phase: 'up', createdAt: '', underlay: '192.0.2.0/24', mtu: 1500, netnsPrefix: `vx-${name}.`, switchNetns: '', namespaces: [], hosts: [],
  store: { kind: 'etcd', netns: '', underlayIp: '', url: '', endpoints: [], dataDir: '', logFile: '' },
  controller: { name: 'ctl', netns: `vx-${name}.ctl`, underlayIp: '192.0.2.252', dir: '', ...daemon, url: '', tcpUrl: '', tokenFile: '/x/token', ...(uiUrl ? { uiUrl } : {}) },
});
writeLabState(lab('new', 'https://192.0.2.252:7071/ui/'));
writeLabState(lab('old'));

async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const o = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => (err.push(String(s)), true)) as typeof process.stderr.write;
  try {
    return { code: await fn(), out: out.join(''), err: err.join('') };
  } finally {
    process.stdout.write = o;
    process.stderr.write = e;
  }
}

t.test('prints the URL alone on stdout, how to sign in on stderr', async (t) => {
  const r = await capture(() => uiCommand({ lab: 'new' }));
  t.equal(r.code, 0);
  t.equal(r.out, 'https://192.0.2.252:7071/ui/\n');
  t.match(r.err, '/x/token');
  t.match(r.err, 'nsenter --net=/run/netns/vx-new.ctl');
  const j = await capture(() => uiCommand({ lab: 'new', json: true }));
  t.same(JSON.parse(j.out), { url: 'https://192.0.2.252:7071/ui/', urls: ['https://192.0.2.252:7071/ui/'], tokenFile: '/x/token', ca: null, netns: 'vx-new.ctl' });
});

t.test('a lab made before the page, or no lab, is a one-line error', async (t) => {
  await t.rejects(uiCommand({ lab: 'old' }), /made before the topology page/);
  await t.rejects(uiCommand({ lab: 'nope' }), { code: 'VXNET_LAB_NOT_FOUND' });
});
