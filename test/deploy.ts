/**
 * deploy/: the systemd units pass `systemd-analyze verify`, say what docs/deploy.md
 * promises (agent before engine, containers survive an engine restart, /run/vxnet kept),
 * and the example configs load in the daemons they are for. No root, no systemd
 * running: verify only parses and checks the files.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const UNITS = join(ROOT, 'deploy/systemd');
const CONFIGS = join(ROOT, 'deploy/etc/vxnet');
const DAEMONS = ['controller', 'agent', 'engine'] as const;

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const noAnalyze = analyze.error ? `systemd-analyze is not installed (Debian package systemd): ${analyze.error.message}` : false;

/**
 * `systemd-analyze verify` on copies of `units` (name -> text) in a scratch directory,
 * their ExecStart binaries pointed at a stub there: the real ones (/usr/local/bin/…)
 * are not installed where tests run, and verify reports a missing binary as an error.
 * Everything verify prints counts: a bad value is only a warning to it ("…, ignoring").
 */
function verify(units: Record<string, string>): { code: number | null; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-units-'));
  try {
    const stub = join(dir, 'stub');
    writeFileSync(stub, '#!/bin/sh\nexit 0\n');
    chmodSync(stub, 0o755);
    for (const [name, text] of Object.entries(units)) writeFileSync(join(dir, name), text.replace(/^(ExecStart=)\/usr\/local\/bin\/vxnet-[a-z]+/m, `$1${stub}`));
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...Object.keys(units).map((n) => join(dir, n))], { encoding: 'utf8', cwd: dir });
    return { code: r.status, output: `${r.stdout}${r.stderr}`.trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const units = Object.fromEntries(readdirSync(UNITS).filter((f) => f.endsWith('.service')).map((f) => [f, readFileSync(join(UNITS, f), 'utf8')]));

t.test('one unit per daemon, each starting its binary with its config file only', async (t) => {
  t.same(Object.keys(units).sort(), DAEMONS.map((d) => `vxnet-${d}.service`).sort());
  for (const d of DAEMONS) {
    const text = units[`vxnet-${d}.service`] as string;
    t.match(text, new RegExp(`^ExecStart=/usr/local/bin/vxnet-${d} --config /etc/vxnet/${d}\\.json$`, 'm'), `${d}: ExecStart`);
    for (const line of ['Restart=on-failure', 'StateDirectory=vxnet', 'RuntimeDirectory=vxnet', 'RuntimeDirectoryPreserve=yes']) {
      t.match(text, new RegExp(`^${line}\\b`, 'm'), `${d}: ${line}`);
    }
  }
  const engine = units['vxnet-engine.service'] as string;
  t.match(engine, /^After=.*\bvxnet-agent\.service\b/m, 'the engine starts after the agent');
  t.match(engine, /^Wants=.*\bvxnet-agent\.service\b/m, 'and pulls it in');
  t.match(engine, /^KillMode=process$/m, 'stopping the engine leaves the containers\' shims running');
  t.notMatch(units['vxnet-agent.service'] as string, /^KillMode=/m, 'the agent starts no process: its cgroup holds only itself');
});

t.test('systemd-analyze verify accepts the units', { skip: noAnalyze }, async (t) => {
  const r = verify(units);
  t.equal(r.output, '', 'nothing to say');
  t.equal(r.code, 0);
});

t.test('systemd-analyze verify, as this test runs it, catches a broken unit', { skip: noAnalyze }, async (t) => {
  const engine = units['vxnet-engine.service'] as string;
  const broken: Array<[string, string, RegExp]> = [
    ['a misspelt key', engine.replace('ExecStart=', 'ExecStrat='), /Unknown key 'ExecStrat'/],
    ['a bad value', engine.replace(/^KillMode=process$/m, 'KillMode=procces'), /Failed to parse kill mode/],
    ['a required unit that does not exist', engine.replace(/^Wants=vxnet-agent\.service$/m, 'Requires=vxnet-agnet.service'), /vxnet-agnet\.service not found/],
    ['a relative binary', engine.replace(/^ExecStart=\S+/m, 'ExecStart=vxnet-engine'), /vxnet-engine/],
  ];
  for (const [what, text, says] of broken) {
    const r = verify({ ...units, 'vxnet-engine.service': text });
    t.ok(r.code !== 0 || r.output !== '', `${what}: refused`);
    t.match(r.output, says, `${what}: named`);
  }
});

t.test('the example configs load in their daemons (--print-config)', async (t) => {
  for (const d of DAEMONS) {
    const file = join(CONFIGS, `${d}.json`);
    const bin = join(ROOT, `packages/${d}/bin/vxnet-${d}.js`);
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VXNET_')));
    const r = spawnSync(process.execPath, [bin, '--config', file, '--print-config'], { encoding: 'utf8', env });
    t.equal(r.status, 0, `${d}: ${r.stderr}`);
    const printed = JSON.parse(r.stdout) as Record<string, unknown>;
    t.match(printed, JSON.parse(readFileSync(file, 'utf8')) as object, `${d}: every setting of the example is in effect`);
  }
});
