/**
 * The start-up bundle (scripts/bundle.mjs, dist/bundle) behaves as the code tsc built
 * (dist/src): the same output, errors and exit codes for help, usage errors, the verbs'
 * own errors and the lab's verbs; and bin/vxnet.js runs the bundle only while it is
 * newer than the builds it was made from.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const BIN = fileURLToPath(new URL('../../bin/vxnet.js', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../../dist/bundle/bin.js', import.meta.url));
const UNBUNDLED = fileURLToPath(new URL('../../dist/src/bin.js', import.meta.url));

const dir = mkdtempSync(join(tmpdir(), 'vxnet-bundle-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
// a loader hook that reports every file module Node loads, on stderr
const hooks = join(dir, 'hooks.mjs');
writeFileSync(hooks, "export async function load(url, context, next) { if (url.startsWith('file:')) process.stderr.write(`LOADED ${url}\\n`); return next(url, context); }\n");
const register = join(dir, 'register.mjs');
writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`file://${hooks}`)});\n`);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Node on `args`, with a private VXNET_HOME and no VXNET_* from the caller. */
function node(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: dir, VXNET_HOME: join(dir, 'home') };
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env, encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

const CASES: string[][] = [
  ['--version'],
  ['--help'],
  ['net', '--help'],
  ['exec', '--help'],
  ['lab', 'up', '--help'],
  ['bogus'],
  ['net', 'create'],
  ['net', 'create', 'n1', '--vni', 'abc'],
  ['net', 'ls'],
  ['--controller', 'unix:///nonexistent/vxnet-bundle-test.sock', 'net', 'ls'],
  ['--controller', 'ftp://x', 'net', 'ls'],
  ['net', 'ls', '--controller', 'unix:///x.sock'],
  ['exec', 'c1', 'true'],
  ['-H', 'unix:///nonexistent/vxnet-bundle-test.sock', 'exec', 'c1', 'true'],
  ['-H', 'tcp://x:1', 'ps'],
  ['lab', 'ls', '--json'],
  ['lab', 'status', '--name', 'vxnet-bundle-test-none'],
];

t.test('the bundle exists after the build', async (t) => {
  t.ok(existsSync(BUNDLE), `${BUNDLE} (npm run build makes it)`);
});

t.test('the bundle answers as dist/src does', async (t) => {
  for (const args of CASES) {
    const [bundled, unbundled] = [await node([BUNDLE, ...args]), await node([UNBUNDLED, ...args])];
    t.same(bundled, unbundled, `vxnet ${args.join(' ')}`);
  }
  // the cases do reach the verbs: one-line errors, non-zero exits
  const r = await node([BUNDLE, '--controller', 'unix:///nonexistent/vxnet-bundle-test.sock', 'net', 'ls']);
  t.equal(r.code, 1);
  t.match(r.stderr, /^vxnet: could not reach the controller at unix:\/\/\/nonexistent\/vxnet-bundle-test\.sock: .*\n$/);
  t.equal((await node([BUNDLE, 'lab', 'ls', '--json'])).stdout, '[]\n');
});

t.test('the lab\'s outside responder, bundled apart, starts as dist/src\'s does', async (t) => {
  const bundled = fileURLToPath(new URL('../../dist/bundle/outside-server.js', import.meta.url));
  const unbundled = fileURLToPath(new URL('../../dist/src/lab/outside-server.js', import.meta.url));
  // a bad address: it gets past loading its modules and answers with its usage line
  const [a, b] = [await node([bundled, 'nope']), await node([unbundled, 'nope'])];
  t.same(a, b);
  t.equal(a.code, 2);
  t.match(a.stderr, /^usage: outside-server IPV4-ADDRESS/);
});

t.test('bin/vxnet.js runs the bundle while it is fresh, dist/src once a build is newer', async (t) => {
  const loaded = async () => (await node(['--import', register, BIN, '--version'])).stderr;
  const fresh = await loaded();
  t.match(fresh, `LOADED file://${BUNDLE}\n`);
  t.notMatch(fresh, `LOADED file://${UNBUNDLED}\n`);
  const { atime, mtime } = statSync(BUNDLE);
  t.teardown(() => utimesSync(BUNDLE, atime, mtime));
  utimesSync(BUNDLE, new Date(0), new Date(0)); // older than any build: stale
  const stale = await loaded();
  t.match(stale, `LOADED file://${UNBUNDLED}\n`);
  t.notMatch(stale, `LOADED file://${BUNDLE}\n`);
  utimesSync(BUNDLE, atime, mtime);
});
