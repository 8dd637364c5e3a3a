/**
 * `vxnet pull` end to end against a real registry (Debian's docker-registry 2.8, token
 * auth), in a 2-host lab: the registry, its token server and a proxy that cuts
 * connections (fixtures/registry-aux.ts) run in the lab controller's namespace, which
 * every lab host reaches; HTTPS with a certificate made here by openssl, trusted with
 * --ca-file. The image (busybox-static and a second layer, built with tar) is pushed by
 * the fixture, as a manifest (tag 1.0) and as an index with an arm64 and an amd64 entry
 * (tag multi). Pulled on both hosts and run, one container reaching the other by name on
 * an overlay; a wrong password, no credentials, an interrupted download and bad
 * references refused with one line, nothing stored and nothing left in the store's tmp/.
 *
 * test-needs: docker-registry
 */
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { isRoot, setupFailure, tempHome, uniqueLabName, vxnet } from './helpers/cli.js';
import { until } from './helpers/wait.js';

const AUX = fileURLToPath(new URL('./fixtures/registry-aux.js', import.meta.url));
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex = (d: string) => d.slice('sha256:'.length);
const which = (bin: string) => {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', bin], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

interface LabStatus {
  controller: { tcpUrl: string; netns: string };
}

if (!isRoot) {
  t.plan(0, 'skip: pull tests need root (lab namespaces, runc, overlayfs)');
} else if (!which('docker-registry') || !which('openssl')) {
  t.plan(0, 'skip: Debian docker-registry (or openssl) is not installed: bash scripts/install-registry.sh');
} else {
  const { home, cleanup } = tempHome('pull');
  const env = { VXNET_HOME: home };
  const lab = uniqueLabName('pull');
  const work = join(home, 'work');
  const procs: ChildProcess[] = [];
  t.teardown(async () => {
    for (const p of procs) if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) process.kill(p.pid, 'SIGTERM');
    await vxnet(['lab', 'down', '--name', lab], env);
    cleanup();
  });

  // ---- the image: an OCI layout with gzipped layers, and an index over it ------------
  mkdirSync(work, { recursive: true });
  const l1 = join(work, 'l1');
  for (const d of ['bin', 'etc', 'srv', 'tmp', 'proc', 'sys', 'dev', 'root']) mkdirSync(join(l1, d), { recursive: true });
  copyFileSync('/bin/busybox', join(l1, 'bin/busybox'));
  chmodSync(join(l1, 'bin/busybox'), 0o755);
  for (const a of ['sh', 'nc', 'ping', 'cat', 'sleep', 'echo']) symlinkSync('/bin/busybox', join(l1, 'bin', a));
  writeFileSync(join(l1, 'bin/echo-once'), '#!/bin/sh\nread line\necho "echo:$line"\n', { mode: 0o755 });
  writeFileSync(join(l1, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  const l2 = join(work, 'l2');
  mkdirSync(join(l2, 'srv'), { recursive: true });
  writeFileSync(join(l2, 'srv/hello'), 'pulled from a registry\n');
  const tarDir = (dir: string) => {
    execFileSync('tar', ['--numeric-owner', '--owner=0', '--group=0', '--sort=name', '-C', dir, '-cf', `${dir}.tar`, '.']);
    return readFileSync(`${dir}.tar`);
  };
  const layers = [tarDir(l1), tarDir(l2)];
  const layout = join(work, 'layout');
  mkdirSync(join(layout, 'blobs/sha256'), { recursive: true });
  const blob = (b: Buffer) => {
    writeFileSync(join(layout, 'blobs/sha256', hex(sha256(b))), b);
    return { digest: sha256(b), size: b.length };
  };
  const config = blob(Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2026-11-29T00:00:00Z', rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l)) },
    config: { Cmd: ['nc', '-ll', '-p', '7', '-e', '/bin/echo-once'], Env: ['PATH=/bin'], ExposedPorts: { '7/tcp': {} } },
  })));
  const layerBlobs = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...blob(gzipSync(l)) }));
  const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
  const INDEX = 'application/vnd.oci.image.index.v1+json';
  const manifest = blob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: layerBlobs })));
  const index = blob(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: INDEX, manifests: [
      { mediaType: MANIFEST, ...manifest, platform: { os: 'linux', architecture: 'arm64' } },
      { mediaType: MANIFEST, ...manifest, platform: { os: 'linux', architecture: 'amd64' } },
    ],
  })));

  // ---- the lab, the registry and its companions ------------------------------------
  const up = await vxnet(['lab', 'up', '--name', lab, '--hosts', '2', '--underlay', '203.0.113.0/24'], env, 180_000);
  const setupFailed = setupFailure(lab, env, cleanup);
  if (up.code !== 0) await setupFailed(new Error(`lab up failed: ${up.stderr}`));
  const net = await vxnet(['net', 'create', 'pnet'], env);
  if (net.code !== 0) await setupFailed(new Error(`net create: ${net.stderr}`));
  const status = JSON.parse((await vxnet(['lab', 'status', '--json'], env)).stdout) as LabStatus;
  const ns = `--net=/run/netns/${status.controller.netns}`;
  const ip = new URL(status.controller.tcpUrl).hostname;
  const [registryPort, tokenPort, proxyPort] = [5000, 5001, 5002];
  const registry = `${ip}:${registryPort}`;
  const cutRegistry = `${ip}:${proxyPort}`;
  // one EC key and self-signed certificate: the TLS identity of the registry and the token server, and the token signer the registry trusts
  const cert = join(work, 'cert.pem');
  const key = join(work, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert,
    '-days', '1', '-subj', '/CN=vxnet-test-registry', '-addext', `subjectAltName=IP:${ip}`], { stdio: 'ignore' });
  const service = 'vxnet-test-registry';
  const issuer = 'vxnet-test-token-issuer';
  writeFileSync(join(work, 'registry.yml'), [
    'version: 0.1',
    'log: { level: warn }',
    `storage: { filesystem: { rootdirectory: ${join(work, 'storage')} } }`,
    `http: { addr: "${registry}", tls: { certificate: ${cert}, key: ${key} } }`,
    `auth: { token: { realm: "https://${ip}:${tokenPort}/token", service: ${service}, issuer: ${issuer}, rootcertbundle: ${cert} } }`,
    '',
  ].join('\n'));
  const aux = { ip, registryPort, tokenPort, proxyPort, cert, key, service, issuer, users: { alice: 's3cret pass' }, cutAfter: 200_000, repo: 'vx/demo', layout,
    blobs: [config.digest, ...layerBlobs.map((l) => l.digest)], manifests: [{ tag: '1.0', digest: manifest.digest, mediaType: MANIFEST }, { tag: 'multi', digest: index.digest, mediaType: INDEX }] };
  writeFileSync(join(work, 'aux.json'), JSON.stringify(aux));
  const start = (args: string[], what: string) => {
    const p = spawn('nsenter', [ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.push(p);
    let out = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => { if (code !== 0 && code !== null) t.comment(`${what} exited ${code}: ${out}`); });
    return () => out;
  };
  start(['docker-registry', 'serve', join(work, 'registry.yml')], 'docker-registry');
  const auxOut = start([process.execPath, AUX, 'serve', join(work, 'aux.json')], 'token server');
  try {
    if (!(await until(async () => (auxOut().includes('ready') ? true : undefined), 20_000, 100)).value) throw new Error('the token server did not start');
    execFileSync('nsenter', [ns, process.execPath, AUX, 'push', join(work, 'aux.json')], { timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    for (const p of procs) if (p.pid !== undefined && p.exitCode === null) process.kill(p.pid, 'SIGTERM');
    await setupFailed(new Error(`registry setup: ${(err as { stderr?: Buffer }).stderr?.toString() ?? (err as Error).message} ${auxOut()}`));
  }

  const labState = () => JSON.parse(readFileSync(join(home, 'labs', lab, 'lab.json'), 'utf8')) as { hosts: Array<{ name: string; engine: { stateDir: string; logFile: string } }> };
  const imagesDir = (h: string) => join(labState().hosts.find((x) => x.name === h)!.engine.stateDir, 'images');
  const on = (h: string, args: string[], timeoutMs?: number) => vxnet(['-H', h, ...args], env, timeoutMs);
  /** `vxnet -H h pull …` with the password on stdin. */
  const pull = (h: string, ref: string, password: string | undefined, extra: string[] = ['--ca-file', cert]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const args = [fileURLToPath(new URL('../../packages/cli/bin/vxnet.js', import.meta.url)), '-H', h, 'pull', ref, ...extra,
      ...(password === undefined ? [] : ['--username', 'alice', '--password-stdin'])];
    const p = spawn(process.execPath, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    p.stdin.end(password === undefined ? '' : `${password}\n`);
  });
  const tags = async (h: string) => (JSON.parse((await on(h, ['image', 'ls', '--json'])).stdout) as Array<{ tags: string[] }>).flatMap((i) => i.tags).sort();
  const tmpEntries = (h: string) => (existsSync(join(imagesDir(h), 'tmp')) ? readdirSync(join(imagesDir(h), 'tmp')) : []);

  t.test('a wrong password or none: refused with one line naming the registry and the 401; nothing stored', async (t) => {
    const before = await tags('h1');
    const wrong = await pull('h1', `${registry}/vx/demo:1.0`, 'wr0ng-pw');
    t.not(wrong.code, 0);
    t.match(wrong.stderr, new RegExp(`^vxnet: could not pull image "${registry}/vx/demo:1.0": the token server of registry ${registry} \\(https://${ip}:${tokenPort}\\) refused the credentials of user "alice" \\(401\\); nothing was stored\\n$`));
    t.notMatch(wrong.stderr, /wr0ng/, 'the password is not echoed');
    const none = await pull('h1', `${registry}/vx/demo:1.0`, undefined);
    t.not(none.code, 0);
    t.match(none.stderr, /^vxnet: could not pull image ".*": the token server of registry .* refused an anonymous pull; give credentials with --username and --password-stdin \(401\); nothing was stored\n$/);
    const untrusted = await pull('h1', `${registry}/vx/demo:1.0`, 's3cret pass', []);
    t.not(untrusted.code, 0);
    t.match(untrusted.stderr, new RegExp(`^vxnet: could not pull image ".*": could not reach registry ${registry} at https://${registry} \\(.*certificate.*\\); nothing was stored\\n$`), 'HTTPS is verified: without --ca-file the self-signed registry is refused');
    t.same(await tags('h1'), before);
    t.same(tmpEntries('h1'), []);
  });

  t.test('an interrupted pull (the connection cut mid-blob) leaves no partial image and no files in tmp/', async (t) => {
    const beforeTags = await tags('h2');
    const beforeLayers = readdirSync(join(imagesDir('h2'), 'layers')).sort();
    const r = await pull('h2', `${cutRegistry}/vx/demo:1.0`, 's3cret pass');
    t.not(r.code, 0);
    t.match(r.stderr, new RegExp(`^vxnet: could not pull image "${cutRegistry}/vx/demo:1.0": the download of blob sha256:[0-9a-f]{64} from ${cutRegistry} (broke off|ended) after \\d+ of \\d+ bytes.*; nothing was stored\\n$`));
    t.same(await tags('h2'), beforeTags, 'image ls shows nothing new');
    t.same(readdirSync(join(imagesDir('h2'), 'layers')).sort(), beforeLayers, 'no layer stored');
    t.same(tmpEntries('h2'), [], 'nothing left in tmp/');
  });

  t.test('bad references are refused before any network traffic', async (t) => {
    const cases: Array<[string, RegExp]> = [
      ['vx/demo:1.0', /^vxnet: could not pull image "vx\/demo:1.0": the reference names no registry: write it as REGISTRY\[:PORT\]\/NAME\[:TAG\] .*; vxnet has no default registry\n$/],
      [`${registry}/VX/Demo`, /^vxnet: could not pull image ".*": the reference is not a valid image name .*\n$/],
      [`${registry}/vx/demo:bad tag`, /^vxnet: could not pull image ".*": the reference has an invalid tag\n$/],
      [`${registry}/vx/demo@sha256:1234`, /^vxnet: could not pull image ".*": the reference has an invalid digest .*\n$/],
    ];
    for (const [ref, re] of cases) {
      const r = await pull('h1', ref, 's3cret pass');
      t.not(r.code, 0, ref);
      t.match(r.stderr, re, ref);
    }
    const argvPassword = await on('h1', ['pull', `${registry}/vx/demo:1.0`, '--username', 'alice']);
    t.equal(argvPassword.stderr, `vxnet: could not pull image "${registry}/vx/demo:1.0": --username needs --password-stdin (the password is never taken from the command line)\n`);
    const missing = await pull('h1', `${registry}/vx/nothing:1.0`, 's3cret pass');
    t.match(missing.stderr, new RegExp(`^vxnet: could not pull image ".*": registry ${registry} has no vx/nothing:1.0 \\(404\\); nothing was stored\\n$`));
  });

  t.test('pull on two hosts (a manifest on h1, the amd64 entry of an index on h2), run, reach one from the other by name', async (t) => {
    const a = await pull('h1', `${registry}/vx/demo:1.0`, 's3cret pass', ['--ca-file', cert, '--json']);
    t.equal(a.code, 0, a.stderr);
    const res = JSON.parse(a.stdout) as { image: { id: string; tags: string[]; layers: string[] }; digest: string; bytes: number };
    t.same(res.image.tags, [`${registry}/vx/demo:1.0`]);
    t.equal(res.image.id, config.digest, 'the image id is its config digest');
    t.same(res.image.layers, layers.map((l) => sha256(l)));
    t.equal(res.digest, manifest.digest);
    t.equal(res.bytes, config.size + layerBlobs.reduce((n, l) => n + l.size, 0));
    const b = await pull('h2', `${registry}/vx/demo:multi`, 's3cret pass');
    t.equal(b.code, 0, b.stderr);
    t.match(b.stdout, new RegExp(`^Pulled ${registry}/vx/demo:multi \\(${hex(config.digest).slice(0, 12)}, .*\\)\\nDigest: ${manifest.digest}\\n$`), 'the index\'s linux/amd64 manifest');
    t.same(tmpEntries('h1'), []);
    t.ok((await tags('h1')).includes(`${registry}/vx/demo:1.0`));

    const srv = await on('h1', ['run', '-d', '--name', 'psrv', '--net', 'pnet', `${registry}/vx/demo:1.0`]);
    t.equal(srv.code, 0, srv.stderr);
    const cli = await on('h2', ['run', '-d', '--name', 'pcli', '--net', 'pnet', `${registry}/vx/demo:multi`, 'sleep', '3600']);
    t.equal(cli.code, 0, cli.stderr);
    const echoed = await until(async () => {
      const r = await on('h2', ['exec', 'pcli', 'sh', '-c', 'echo across | nc psrv 7']);
      return r.stdout.trim() === 'echo:across' ? r : undefined;
    }, 15_000, 200);
    t.ok(echoed.value, 'h2\'s container reaches h1\'s by name through the pulled image\'s server');
    const hello = await on('h2', ['exec', 'pcli', 'cat', '/srv/hello']);
    t.equal(hello.stdout, 'pulled from a registry\n', 'the second layer is there');
    await on('h1', ['rm', '-f', 'psrv']);
    await on('h2', ['rm', '-f', 'pcli']);
  });

  t.test('the engines log pulls and failures, never the password', async (t) => {
    const logs = ['h1', 'h2'].map((h) => readFileSync(labState().hosts.find((x) => x.name === h)!.engine.logFile, 'utf8')).join('');
    t.match(logs, /"msg":"image pulled"/);
    t.match(logs, /"msg":"image pull failed"/);
    for (const secret of ['s3cret pass', Buffer.from('alice:s3cret pass').toString('base64'), 'wr0ng-pw']) t.notOk(logs.includes(secret), `no ${secret} in the logs`);
  });
}
