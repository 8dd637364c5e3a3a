/**
 * Images: vxnet's engine against dockerd on the same host of one lab (`vxnet lab up
 * --hosts 1 --docker`, Debian docker.io), the same image, in one run:
 *
 *   load    `vxnet -H h1 image load -i IMG.tar`  vs  `docker load -i IMG.tar`: a ~50 MB
 *           docker save tarball built here (busybox-static, a 48 MiB incompressible file),
 *           removed again after each trial (`image rm`, `docker rmi`), untimed
 *   run -d  `vxnet -H h1 run -d --net bnet IMG sleep 3600` (on an overlay network) vs
 *           `docker run -d IMG sleep 3600` (Docker's default bridge) and, as a floor,
 *           `docker run -d --network none`; removed after each trial, untimed
 *   API     the same runs without either CLI: POST /v1/containers on the engine's socket
 *           vs POST /containers/create + /containers/ID/start on dockerd's
 *   CLI     `vxnet --version` and `docker --version`: each CLI's own start-up
 *
 * Whole commands are timed, CLI start-up included for both; trials alternate which
 * side goes first. Goal (issue 16): vxnet's run -d at least 2× faster at p50.
 *
 *   node bench/dist/images.js [trials]     (root; docker.io installed: npm run bench -- images)
 */
import { execFile, execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { randomBytes, createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ms, summarize, writeReport } from './lib/stats.js';

const TRIALS = Number(process.argv[2] ?? 10);
const LOAD_TRIALS = Math.max(3, Math.ceil(TRIALS / 2));
const VXNET = fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url));
const DOCKER = '/usr/bin/docker';
const IMAGE = 'vxbench:1';
const GOAL = 2;

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const t0 = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: 300_000, maxBuffer: 1 << 24 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
  });
}

/** One JSON request over a unix socket; resolves with the parsed answer, rejects on a non-2xx. */
function api(socketPath: string, method: string, path: string, body?: unknown): Promise<{ Id?: string; id?: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method, path, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => {
        if ((res.statusCode ?? 0) >= 300) reject(new Error(`${method} ${path}: ${res.statusCode} ${text}`));
        else resolve(text ? (JSON.parse(text) as { Id?: string; id?: string }) : {});
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

async function timeApi(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** A docker save tarball of ~50 MB: busybox-static and 48 MiB of random bytes, one layer. */
function buildImage(dir: string): string {
  const root = join(dir, 'root');
  for (const d of ['bin', 'etc', 'data', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'sleep', 'ls', 'cat']) symlinkSync('/bin/busybox', join(root, 'bin', a));
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'data/blob'), randomBytes(48 << 20));
  const save = join(dir, 'save');
  mkdirSync(join(save, 'l1'), { recursive: true });
  execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', root, '-cf', join(save, 'l1/layer.tar'), '.']);
  const layer = readFileSync(join(save, 'l1/layer.tar'));
  const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['sleep', '3600'], Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const cfgName = `${createHash('sha256').update(cfg).digest('hex')}.json`;
  writeFileSync(join(save, cfgName), cfg);
  writeFileSync(join(save, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: [IMAGE], Layers: ['l1/layer.tar'] }]));
  execFileSync('tar', ['-C', save, '-cf', join(dir, 'image.tar'), '.']);
  return join(dir, 'image.tar');
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('this benchmark runs in a lab and needs root');
  const home = mkdtempSync(join(tmpdir(), 'vxnet-bench-images-'));
  const env = { ...process.env, VXNET_HOME: home, DOCKER_CONFIG: join(home, 'docker-cli') };
  const lab = `im-${process.pid.toString(36)}`;
  const vx = (...args: string[]) => execFileSync(process.execPath, [VXNET, ...args], { env, encoding: 'utf8' });
  const interrupted = (sig: NodeJS.Signals) => {
    process.stderr.write(`${sig}: removing the lab\n`);
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
      process.exit(130);
    }
  };
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted);
  try {
    const tarball = buildImage(home);
    const size = readFileSync(tarball).length;
    vx('lab', 'up', '--name', lab, '--hosts', '1', '--docker');
    vx('net', 'create', 'bnet');
    const state = JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8')) as { hosts: Array<{ keeper: { pid: number }; engine: { socket: string } }> };
    const dockerSock = `/proc/${state.hosts[0]?.keeper.pid}/root/run/docker.sock`;
    const engineSock = state.hosts[0]?.engine.socket as string;
    const sock = `unix://${dockerSock}`;
    const dk = (args: string[]) => timed(DOCKER, ['-H', sock, ...args], env);
    const vxn = (args: string[]) => timed(process.execPath, [VXNET, '-H', 'h1', ...args], env);

    const loads: Record<'vxnet' | 'docker', number[]> = { vxnet: [], docker: [] };
    for (let i = 0; i < LOAD_TRIALS; i++) {
      const order = i % 2 === 0 ? (['vxnet', 'docker'] as const) : (['docker', 'vxnet'] as const);
      for (const side of order) {
        if (side === 'vxnet') {
          loads.vxnet.push(await vxn(['image', 'load', '-i', tarball]));
          await vxn(['image', 'rm', IMAGE]);
        } else {
          loads.docker.push(await dk(['load', '-i', tarball]));
          await dk(['rmi', IMAGE]);
        }
        process.stderr.write(`load ${side} #${i}: ${ms(loads[side].at(-1) as number)} ms\n`);
      }
    }
    await vxn(['image', 'load', '-i', tarball]);
    await dk(['load', '-i', tarball]);
    // one untimed run each (first-use costs: busybox image, bridge set-up)
    await vxn(['run', '-d', '--net', 'bnet', '--name', 'warm-v', IMAGE]);
    await dk(['run', '-d', '--name', 'warm-d', IMAGE]);

    const runs: Record<'vxnet' | 'docker' | 'none', number[]> = { vxnet: [], docker: [], none: [] };
    for (let i = 0; i < TRIALS; i++) {
      const order = i % 2 === 0 ? (['vxnet', 'docker', 'none'] as const) : (['none', 'docker', 'vxnet'] as const);
      for (const side of order) {
        if (side === 'vxnet') {
          runs.vxnet.push(await vxn(['run', '-d', '--net', 'bnet', '--name', `v${i}`, IMAGE, 'sleep', '3600']));
          await vxn(['rm', '-f', `v${i}`]);
        } else {
          runs[side].push(await dk(['run', '-d', ...(side === 'none' ? ['--network', 'none'] : []), '--name', `${side[0]}${i}`, IMAGE, 'sleep', '3600']));
          await dk(['rm', '-f', `${side[0]}${i}`]);
        }
      }
      process.stderr.write(`run #${i}: vxnet ${ms(runs.vxnet.at(-1) as number)} ms, docker ${ms(runs.docker.at(-1) as number)} ms\n`);
    }

    // the same runs through each daemon's API, no CLI; and each CLI's start-up alone
    const apiRuns: Record<'vxnet' | 'docker', number[]> = { vxnet: [], docker: [] };
    const cliStart: Record<'vxnet' | 'docker', number[]> = { vxnet: [], docker: [] };
    for (let i = 0; i < TRIALS; i++) {
      const order = i % 2 === 0 ? (['vxnet', 'docker'] as const) : (['docker', 'vxnet'] as const);
      for (const side of order) {
        if (side === 'vxnet') {
          apiRuns.vxnet.push(await timeApi(() => api(engineSock, 'POST', '/v1/containers', { name: `av${i}`, image: IMAGE, cmd: ['sleep', '3600'], detach: true, networks: ['bnet'] })));
          await api(engineSock, 'DELETE', `/v1/containers/av${i}?force=1`);
          cliStart.vxnet.push(await timed(process.execPath, [VXNET, '--version'], env));
        } else {
          apiRuns.docker.push(await timeApi(async () => {
            const c = await api(dockerSock, 'POST', `/v1.41/containers/create?name=ad${i}`, { Image: IMAGE, Cmd: ['sleep', '3600'] });
            await api(dockerSock, 'POST', `/v1.41/containers/${c.Id}/start`);
          }));
          await api(dockerSock, 'DELETE', `/v1.41/containers/ad${i}?force=1`);
          cliStart.docker.push(await timed(DOCKER, ['--version'], env));
        }
      }
    }
    const av = summarize(apiRuns.vxnet);
    const ad = summarize(apiRuns.docker);
    const cv = summarize(cliStart.vxnet);
    const cd = summarize(cliStart.docker);

    const lv = summarize(loads.vxnet);
    const ld = summarize(loads.docker);
    const rv = summarize(runs.vxnet);
    const rd = summarize(runs.docker);
    const rn = summarize(runs.none);
    const met = rd.p50 / rv.p50 >= GOAL;
    const load = loadavg()[0]?.toFixed(2);
    const table = [
      '| command (whole, CLI start-up included) | vxnet p50 (ms) | vxnet p99 (ms) | docker p50 (ms) | docker p99 (ms) | docker / vxnet at p50 |',
      '|---|---:|---:|---:|---:|---:|',
      `| image load of a ${(size / 1e6).toFixed(1)} MB docker save tarball (${LOAD_TRIALS} trials each) | ${ms(lv.p50)} | ${ms(lv.p99)} | ${ms(ld.p50)} | ${ms(ld.p99)} | ${(ld.p50 / lv.p50).toFixed(2)}× |`,
      `| **run -d** of that image (vxnet: on an overlay network; docker: default bridge; ${TRIALS} trials each) | ${ms(rv.p50)} | ${ms(rv.p99)} | ${ms(rd.p50)} | ${ms(rd.p99)} | ${(rd.p50 / rv.p50).toFixed(2)}× |`,
      `| floor: docker run -d --network none | | | ${ms(rn.p50)} | ${ms(rn.p99)} | |`,
      `| run through the daemon's API, no CLI (vxnet: POST /v1/containers, on the overlay; docker: create + start, default bridge) | ${ms(av.p50)} | ${ms(av.p99)} | ${ms(ad.p50)} | ${ms(ad.p99)} | ${(ad.p50 / av.p50).toFixed(2)}× |`,
      `| the CLI's own start-up (\`vxnet --version\` / \`docker --version\`) | ${ms(cv.p50)} | ${ms(cv.p99)} | ${ms(cd.p50)} | ${ms(cd.p99)} | ${(cd.p50 / cv.p50).toFixed(2)}× |`,
    ].join('\n');
    const verdict = `Goal: vxnet's run -d at least ${GOAL}× faster than docker's at p50: **${met ? 'met' : 'not met'}** (${(rd.p50 / rv.p50).toFixed(2)}×; `
      + `through the APIs alone, without the CLIs, ${(ad.p50 / av.p50).toFixed(2)}×). 1-min load average at the end: ${load} (2 cores, shared).`;
    console.log(`${table}\n\n${verdict}`);
    const version = execFileSync('/usr/sbin/dockerd', ['--version'], { encoding: 'utf8' }).trim();
    writeReport('images', [
      '# Images: `image load` and `run -d` of a loaded image, vxnet\'s engine vs dockerd',
      '',
      `Command: \`node bench/dist/images.js${process.argv[2] ? ` ${process.argv[2]}` : ''}\` (root; after \`npm run build\`; \`npm run bench -- images\` installs docker.io first)`,
      `Date: ${new Date().toISOString()}`,
      `Setup: one lab host with vxnet's engine and a dockerd (\`vxnet lab up --hosts 1 --docker\`; ${version}), the same docker save tarball for both `
        + '(one layer: busybox-static and 48 MiB of random bytes, Cmd `sleep 3600`). Trials alternate which side goes first; each load is undone (image rm / docker rmi) '
        + 'and each container removed (rm -f) untimed before the next trial.',
      '',
      table,
      '',
      verdict,
      '',
    ].join('\n'));
  } finally {
    try {
      vx('lab', 'down', '--name', lab);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }
}

await main();
