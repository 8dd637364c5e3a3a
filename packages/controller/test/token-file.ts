/** The token file: generated once, 0600 in a 0700 directory, never overwritten; bad files stop the start. */
import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { loadOrCreateToken } from '../src/token-file.js';

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'vxnet-token-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const mode = (path: string) => statSync(path).mode & 0o777;

t.test('first start: 32 random bytes in hex, file 0600, missing directories 0700; later starts read the same token', async (t) => {
  const dir = scratch(t);
  const path = join(dir, 'var/lib/vxnet/controller/token');
  const old = process.umask(0o022); // the usual umask would make 0644 / 0755
  t.teardown(() => process.umask(old));
  const first = loadOrCreateToken(path);
  t.match(first, { created: true, mode: 0o600 });
  t.match(first.token, /^[0-9a-f]{64}$/);
  t.equal(readFileSync(path, 'utf8'), `${first.token}\n`);
  t.equal(mode(path), 0o600);
  t.equal(mode(join(dir, 'var/lib/vxnet/controller')), 0o700);
  t.equal(mode(join(dir, 'var')), 0o700);
  t.same(readdirSync(join(dir, 'var/lib/vxnet/controller')), ['token'], 'no temporary file left');

  t.same(loadOrCreateToken(path), { token: first.token, created: false, mode: 0o600 }, 'read back, not regenerated');
  t.not(loadOrCreateToken(join(dir, 'other')).token, first.token, 'random per file');
});

t.test('an existing token is used as it is (trimmed), never overwritten', async (t) => {
  const dir = scratch(t);
  const path = join(dir, 'token');
  writeFileSync(path, '  my-own-token\n', { mode: 0o640 });
  t.same(loadOrCreateToken(path), { token: 'my-own-token', created: false, mode: 0o640 });
  t.equal(readFileSync(path, 'utf8'), '  my-own-token\n');
});

t.test('controllers starting at once on a missing file all end up with the one token that was linked first', async (t) => {
  const dir = scratch(t);
  const path = join(dir, 'd/token');
  const module = new URL('../src/token-file.js', import.meta.url).href;
  const code = `import { workerData, parentPort } from 'node:worker_threads';
    const { loadOrCreateToken } = await import(workerData.module);
    parentPort.postMessage(loadOrCreateToken(workerData.path));`;
  const results = await Promise.all(Array.from({ length: 8 }, () => new Promise<{ token: string; created: boolean }>((resolve, reject) => {
    // execArgv: [] keeps tap's loaders out of the workers (seconds each)
    const w = new Worker(code, { eval: true, workerData: { module, path }, execArgv: [] });
    w.once('message', resolve).once('error', reject);
  })));
  t.equal(new Set(results.map((r) => r.token)).size, 1, 'one token');
  t.equal(readFileSync(path, 'utf8'), `${results[0]?.token}\n`, 'and it is the one in the file');
  t.ok(results.filter((r) => r.created).length <= 1, 'at most one of them made it');
  t.same(readdirSync(join(dir, 'd')), ['token'], 'no temporary file left');
});

t.test('an unreadable, empty or garbled token file stops the start, naming the file', async (t) => {
  const dir = scratch(t);
  const empty = join(dir, 'empty');
  writeFileSync(empty, ' \n');
  t.throws(() => loadOrCreateToken(empty), {
    code: 'VXNET_TOKEN_FILE_INVALID',
    message: `could not start the controller: token file ${empty} is empty (write a token into it, or delete it to have one generated)`,
  });
  t.equal(readFileSync(empty, 'utf8'), ' \n', 'left as it was');

  const unreadable = join(dir, 'is-a-directory');
  mkdirSync(unreadable);
  t.throws(() => loadOrCreateToken(unreadable), { code: 'VXNET_TOKEN_FILE_INVALID', message: new RegExp(`^could not start the controller: token file ${unreadable} cannot be read: EISDIR`) });

  const garbled = join(dir, 'garbled');
  writeFileSync(garbled, 'two words\n');
  t.throws(() => loadOrCreateToken(garbled), { message: /token file .*garbled holds characters a bearer token cannot have/ });

  const blocked = join(dir, 'a-file');
  writeFileSync(blocked, 'x');
  t.throws(() => loadOrCreateToken(join(blocked, 'token')), { code: 'VXNET_TOKEN_FILE_INVALID', message: /token file .*a-file\/token (cannot be read|could not be created): ENOTDIR/ });
});
